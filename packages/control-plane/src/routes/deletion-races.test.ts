/**
 * A deleted tenant, team or project leaves nothing that still names it: writes racing a DELETE (a role binding, a
 * group mapping, a membership, an identity provider, an API key) either finish before it (and are removed with
 * it) or find the object gone; and whatever such a race left behind in older data — a mapping to a deleted
 * project or team, a provider or membership of a deleted tenant — is ignored by SSO provisioning and token issue.
 *
 * A race is staged by holding the DELETE's transaction open (row marked deleted and cleaned up, not committed)
 * while the racing request runs, then committing.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { decodeJwt } from 'jose'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser } from '../test-support/browser.js'
import { createHarness, type Harness, type Reply } from '../test-support/harness.js'
import { TestSamlIdp } from '../test-support/saml-idp.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
const idp = new TestSamlIdp()

beforeAll(async () => {
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
})
afterAll(async () => h?.close())

const uniq = () => randomBytes(4).toString('hex')
const sys = () => w.byName('sys').token
const call = (method: string, url: string, body?: unknown) => h.request(method, url, { token: sys(), ...(body !== undefined ? { body } : {}) })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function created(url: string, body: unknown): Promise<{ id: string; slug: string }> {
  const res = await call('POST', url, body)
  expect(res.status, res.body).toBe(201)
  return res.json
}
const newTenant = () => created('/v1/tenants', { slug: `t-${uniq()}`, name: 'T', region: 'eu' })
const newTeam = (tenant: string) => created(`/v1/tenants/${tenant}/teams`, { slug: `tm-${uniq()}`, name: 'Team' })
const newProject = (team: string) => created(`/v1/teams/${team}/projects`, { slug: `p-${uniq()}`, name: 'P' })

/** A member of the tenant, by e-mail, with no binding. */
async function member(tenant: string): Promise<string> {
  const res = await call('POST', `/v1/tenants/${tenant}/members`, { email: `m-${uniq()}@example.test` })
  expect(res.status, res.body).toBe(201)
  return res.json.member.userId
}

/**
 * Runs `racing` while a DELETE of `table`/`id` is under way: marked deleted and cleaned up by `cleanup` (what the
 * route removes) in a transaction that commits only after the request had 300 ms to get in.
 */
async function whileDeleting(
  table: 'tenants' | 'teams' | 'projects',
  id: string,
  cleanup: (c: pg.PoolClient) => Promise<unknown>,
  racing: () => Promise<Reply>,
) {
  const c = await h.s.db.pool.connect()
  try {
    await c.query('BEGIN')
    await c.query(`SELECT 1 FROM ${table} WHERE id = $1 FOR UPDATE`, [id])
    await c.query(`UPDATE ${table} SET deleted_at = now() WHERE id = $1`, [id])
    await cleanup(c)
    const pending = racing()
    await sleep(300)
    await c.query('COMMIT')
    return await pending
  } finally {
    c.release()
  }
}

describe('writes racing a DELETE', () => {
  it('a role binding on a project being deleted is refused (404), not left at the deleted project', async () => {
    const t = w.nodes.T1!.id!
    const p = await newProject(w.nodes.A!.id!)
    const user = await member(t)
    const res = await whileDeleting(
      'projects',
      p.id,
      (c) => c.query('DELETE FROM role_bindings WHERE project_id = $1', [p.id]),
      () => call('POST', '/v1/rolebindings', { userId: user, role: 'project_viewer', scope: { kind: 'project', id: p.id } }),
    )
    expect(res.status, res.body).toBe(404)
    expect(await h.sql('SELECT 1 FROM role_bindings WHERE project_id = $1', [p.id])).toEqual([])
  })

  it('a role binding on a team being deleted is refused', async () => {
    const t = w.nodes.T1!.id!
    const team = await newTeam(t)
    const user = await member(t)
    const res = await whileDeleting(
      'teams',
      team.id,
      (c) => c.query('DELETE FROM role_bindings WHERE team_id = $1', [team.id]),
      () => call('POST', '/v1/rolebindings', { userId: user, role: 'team_viewer', scope: { kind: 'team', id: team.id } }),
    )
    expect(res.status, res.body).toBe(404)
    expect(await h.sql('SELECT 1 FROM role_bindings WHERE team_id = $1', [team.id])).toEqual([])
  })

  it('a group mapping to a project being deleted is refused', async () => {
    const p = await newProject(w.nodes.A!.id!)
    const provider = await created(`/v1/tenants/${w.nodes.T1!.id}/idps`, {
      kind: 'saml',
      name: `race-${uniq()}`,
      saml: { ssoUrl: idp.ssoUrl, idpEntityId: idp.entityId, idpCertificate: idp.publicKeyPem },
    })
    const res = await whileDeleting(
      'projects',
      p.id,
      (c) => c.query('DELETE FROM group_mappings WHERE project_id = $1', [p.id]),
      () => call('PUT', `/v1/idps/${provider.id}/group-mappings`, { mappings: [{ group: 'eng', role: 'project_viewer', projectId: p.id }] }),
    )
    expect(res.status, res.body).toBe(404)
    expect(await h.sql('SELECT 1 FROM group_mappings WHERE project_id = $1', [p.id])).toEqual([])
  })

  it('an identity provider or a member added to a tenant being deleted is refused', async () => {
    const t = await newTenant()
    const idpRes = await whileDeleting(
      'tenants',
      t.id,
      (c) => c.query('DELETE FROM identity_providers WHERE tenant_id = $1', [t.id]),
      () =>
        call('POST', `/v1/tenants/${t.id}/idps`, {
          kind: 'saml',
          name: 'late',
          saml: { ssoUrl: idp.ssoUrl, idpEntityId: idp.entityId, idpCertificate: idp.publicKeyPem },
        }),
    )
    expect(idpRes.status, idpRes.body).toBe(404)
    expect(await h.sql('SELECT 1 FROM identity_providers WHERE tenant_id = $1', [t.id])).toEqual([])

    const t2 = await newTenant()
    const memberRes = await whileDeleting(
      'tenants',
      t2.id,
      (c) => c.query('DELETE FROM memberships WHERE tenant_id = $1', [t2.id]),
      () => call('POST', `/v1/tenants/${t2.id}/members`, { email: `late-${uniq()}@example.test` }),
    )
    expect(memberRes.status, memberRes.body).toBe(404)
    expect(await h.sql('SELECT 1 FROM memberships WHERE tenant_id = $1', [t2.id])).toEqual([])
  })

  it('an API key created on a project being deleted is refused, not left unrevoked', async () => {
    const p = await newProject(w.nodes.A!.id!)
    const res = await whileDeleting(
      'projects',
      p.id,
      async () => undefined,
      () => call('POST', `/v1/projects/${p.id}/apikeys`, { name: 'late', role: 'project_viewer' }),
    )
    expect(res.status, res.body).toBe(404)
    expect(await h.sql('SELECT 1 FROM credentials WHERE project_id = $1 AND revoked_at IS NULL', [p.id])).toEqual([])
  })
})

describe('what older races left behind is ignored', () => {
  const base = (id: string) => `${h.url}/v1/auth/saml/${id}`

  async function samlProvider(tenant: string): Promise<string> {
    const p = await created(`/v1/tenants/${tenant}/idps`, {
      kind: 'saml',
      name: `left-${uniq()}`,
      saml: { ssoUrl: idp.ssoUrl, idpEntityId: idp.entityId, idpCertificate: idp.publicKeyPem, signRequests: false },
    })
    return p.id
  }

  async function samlLogin(provider: string, email: string, groups: string[]): Promise<Response> {
    const b = new Browser()
    const started = await b.go(`${base(provider)}/login`)
    expect(started.status).toBe(302)
    const { id, relayState } = idp.receiveAuthnRequest(started.headers.get('location')!)
    const xml = idp.responseXml({ requestId: id, acs: `${base(provider)}/acs`, audience: `${base(provider)}/metadata`, email, groups })
    return b.go(`${base(provider)}/acs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: relayState! }).toString(),
    })
  }

  it('SSO provisioning binds no role at a deleted project or team named by a group mapping', async () => {
    const t = w.nodes.T1!.id!
    const team = await newTeam(t)
    const [live, gone] = [await newProject(team.id), await newProject(team.id)]
    const goneTeam = await newTeam(t)
    const provider = await samlProvider(t)
    const put = await call('PUT', `/v1/idps/${provider}/group-mappings`, {
      mappings: [
        { group: 'eng', role: 'project_viewer', projectId: live.id },
        { group: 'eng', role: 'project_editor', projectId: gone.id },
        { group: 'eng', role: 'team_viewer', teamId: goneTeam.id },
      ],
    })
    expect(put.status, put.body).toBe(200)
    // deleted without their cleanup, as a DELETE racing the PUT above used to leave it
    await h.sql('UPDATE projects SET deleted_at = now() WHERE id = $1', [gone.id])
    await h.sql('UPDATE teams SET deleted_at = now() WHERE id = $1', [goneTeam.id])

    const email = `prov-${randomUUID()}@corp.example`
    const res = await samlLogin(provider, email, ['eng'])
    expect(res.status).toBe(200)
    const claims = decodeJwt(((await res.json()) as { access_token: string }).access_token)
    expect(claims.rb).toEqual([{ role: 'project_viewer', scope: { tenant: t, team: team.id, project: live.id } }])
    const [u] = await h.sql('SELECT id FROM users WHERE email = $1', [email])
    expect(await h.sql('SELECT role FROM role_bindings WHERE user_id = $1', [u.id])).toEqual([{ role: 'project_viewer' }])
  })

  it('the SSO routes of a provider whose tenant is deleted answer 404, and no login gets through it', async () => {
    const t = await newTenant()
    const provider = await samlProvider(t.id)
    await h.sql('UPDATE tenants SET deleted_at = now() WHERE id = $1', [t.id])
    for (const path of ['login', 'metadata', 'slo?SAMLRequest=x']) {
      expect((await fetch(`${base(provider)}/${path}`, { redirect: 'manual' })).status, path).toBe(404)
    }
    expect(await h.sql('SELECT 1 FROM memberships WHERE tenant_id = $1', [t.id])).toEqual([])
  })

  it('a membership of a deleted tenant yields no token for it', async () => {
    const t = await newTenant()
    const user = await member(t.id)
    await h.sql('UPDATE tenants SET deleted_at = now() WHERE id = $1', [t.id])
    const tokens = await h.login(user)
    const claims = decodeJwt(tokens.access)
    expect(claims.tid).toBeUndefined()
    await expect(h.login(user, t.id)).rejects.toThrow(/not a member/)
  })
})
