/**
 * Attack tests (issue 9 item 6), tenants against each other through memberships:
 * - a tenant admin cannot make another tenant's user (or a system-level user) a member of their tenant: the
 *   user would appear there and could be bound roles without ever agreeing; an admin of every tenant the user is
 *   in (or a system admin) can;
 * - removing a member (or one of their bindings) in one tenant ends the tokens issued for that tenant only, not
 *   the user's tokens for their other tenants, here and in the runtimes' revocation feed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, SERVICE_TOKEN, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
let t2: string
let t2Admin: string

beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
  t2 = w.nodes.T2!.id!
  const [u] = await h.sql("INSERT INTO users (email, display_name) VALUES ('t2_admin@example.test', 't2 admin') RETURNING id")
  await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [t2, u.id])
  await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id) VALUES ($1, 'tenant_admin', 'tenant', $2)", [u.id, t2])
  t2Admin = (await h.login(u.id, t2)).access
})
afterAll(async () => h?.close())

const members = (tenantId: string) => h.sql('SELECT user_id FROM memberships WHERE tenant_id = $1', [tenantId])
const isMember = async (tenantId: string, userId: string) => (await members(tenantId)).some((m: { user_id: string }) => m.user_id === userId)

describe('a foreign tenant admin cannot force membership on another tenant’s user', () => {
  it('refuses to add a member of T1, or a system-level user, to T2 (with or without a role)', async () => {
    for (const [name, body] of [
      ['p_viewer', {}],
      ['t_viewer', { role: 'tenant_viewer', scope: { kind: 'tenant', id: w.nodes.T2!.id } }],
      ['sys', {}],
      ['auditor_sys', {}],
    ] as const) {
      const victim = w.byName(name)
      const res = await h.request('POST', `/v1/tenants/${t2}/members`, { token: t2Admin, body: { email: `${name}@example.test`, ...body } })
      expect(res.status, name).toBe(403)
      expect(res.json.error.code).toBe('forbidden')
      expect(res.json.error.message).toMatch(/belongs to/)
      expect(await isMember(t2, victim.userId), name).toBe(false)
    }
  })

  it('still adds a new address, and a system admin may add anyone', async () => {
    expect((await h.request('POST', `/v1/tenants/${t2}/members`, { token: t2Admin, body: { email: 'fresh@example.test' } })).status).toBe(201)
    const res = await h.request('POST', `/v1/tenants/${t2}/members`, { token: w.byName('sys').token, body: { email: 'p_editor@example.test' } })
    expect(res.status).toBe(201)
    expect(await isMember(t2, w.byName('p_editor').userId)).toBe(true)
  })
})

describe('removing a member from one tenant ends their tokens for that tenant only', () => {
  it('keeps the T1 tokens of a user removed from T2, ends the T2 ones, here and in the revocation feed', async () => {
    const user = w.byName('team_viewer')
    await h.request('POST', `/v1/tenants/${t2}/members`, { token: w.byName('sys').token, body: { email: 'team_viewer@example.test' } })
    const forT1 = (await h.login(user.userId, w.nodes.T1!.id)).access
    const forT2 = (await h.login(user.userId, t2)).access
    const me = async (token: string) => (await h.request('GET', '/v1/me', { token })).status
    expect([await me(forT1), await me(forT2)]).toEqual([200, 200])

    const before = (await h.request('GET', '/v1/service/revocations?since=0', { headers: { authorization: `Bearer ${SERVICE_TOKEN}` } })).json.version
    expect((await h.request('DELETE', `/v1/tenants/${t2}/members/${user.userId}`, { token: t2Admin })).status).toBe(204)
    expect(await me(forT2)).toBe(401)
    expect(await me(forT1)).toBe(200)

    const feed = await h.request('GET', `/v1/service/revocations?since=${before}`, { headers: { authorization: `Bearer ${SERVICE_TOKEN}` } })
    expect(feed.json.items).toEqual([expect.objectContaining({ kind: 'user', subject: user.userId, tenantId: t2 })])
    // a fresh token for T1 still works; T2 is refused (not a member)
    expect(await me((await h.login(user.userId, w.nodes.T1!.id)).access)).toBe(200)
  })

  it('removing one of the user’s T2 role bindings ends their T2 tokens only', async () => {
    const user = w.byName('p_editor') // added to T2 by the system admin above
    const bound = await h.request('POST', '/v1/rolebindings', {
      token: t2Admin,
      body: { userId: user.userId, role: 'tenant_viewer', scope: { kind: 'tenant', id: t2 } },
    })
    expect(bound.status).toBe(201)
    const forT1 = (await h.login(user.userId, w.nodes.T1!.id)).access
    const forT2 = (await h.login(user.userId, t2)).access
    expect((await h.request('DELETE', `/v1/rolebindings/${bound.json.id}`, { token: t2Admin })).status).toBe(204)
    expect((await h.request('GET', '/v1/me', { token: forT2 })).status).toBe(401)
    expect((await h.request('GET', '/v1/me', { token: forT1 })).status).toBe(200)
  })
})
