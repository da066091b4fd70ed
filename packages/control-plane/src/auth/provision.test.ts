/**
 * Just-in-time provisioning of a user who was invited by e-mail before their first SSO login: the login links
 * the invited account (memberships and the admin's bindings stay), and the IdP's name fills a name the invite
 * left empty without replacing one the admin gave.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'
import { provisionUser } from './provision.js'

let h: Harness
let w: World
let provider: { id: string; tenantId: string }

beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
  const tenantId = w.nodes.T1!.id!
  const [row] = await h.sql(`INSERT INTO identity_providers (tenant_id, kind, name, config) VALUES ($1, 'oidc', 'corp', '{}') RETURNING id`, [tenantId])
  provider = { id: row.id, tenantId }
})
afterAll(async () => {
  await h?.close()
})

async function invite(email: string, displayName?: string): Promise<string> {
  const res = await h.request('POST', `/v1/tenants/${provider.tenantId}/members`, {
    token: w.byName('t_admin').token,
    body: { email, ...(displayName ? { displayName } : {}), role: 'project_viewer', scope: { kind: 'project', id: w.nodes.A1!.id } },
  })
  expect(res.status).toBe(201)
  return res.json.member.userId
}

const nameOf = async (userId: string) => (await h.sql('SELECT display_name FROM users WHERE id = $1', [userId]))[0].display_name

describe('provisioning an invited user', () => {
  it('links the invited account and takes the IdP’s name when the invite gave none', async () => {
    const invited = await invite('nameless@corp.example')
    expect(await nameOf(invited)).toBe('')
    const userId = await provisionUser(h.s, provider, { subject: 'nameless-1', email: 'Nameless@corp.example', displayName: 'Nora Nameless', groups: [] })
    expect(userId).toBe(invited)
    expect(await nameOf(userId)).toBe('Nora Nameless')
    // the binding the admin gave at the invite is not IdP-managed, so it stays
    const bindings = await h.sql('SELECT role FROM role_bindings WHERE user_id = $1', [userId])
    expect(bindings.map((b: { role: string }) => b.role)).toEqual(['project_viewer'])
  })

  it('keeps the name the inviting admin gave', async () => {
    const invited = await invite('named@corp.example', 'Given Name')
    await provisionUser(h.s, provider, { subject: 'named-1', email: 'named@corp.example', displayName: 'IdP Name', groups: [] })
    expect(await nameOf(invited)).toBe('Given Name')
  })
})
