/**
 * Deleting projects, teams and tenants: the typed-slug confirmation, emptiness (409 not_empty), no existence
 * leak (404) and 403 without the right, nothing changed on refusal, and what a deletion takes with it — API keys
 * and worker tokens revoked (refused by `/v1/service/credentials/verify`, listed in the revocation feed), role
 * bindings removed with a `user` revocation, the object gone from reads, lists and the runtimes' settings feed,
 * its slug free again.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, SERVICE_TOKEN, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World

beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
})
afterAll(async () => h?.close())

const uniq = () => randomBytes(4).toString('hex')
const token = (actor: string) => w.byName(actor).token
const call = (actor: string, method: string, url: string, body?: unknown) =>
  h.request(method, url, { token: token(actor), ...(body !== undefined ? { body } : {}) })
const service = (method: string, url: string, body?: unknown) => h.request(method, url, { token: SERVICE_TOKEN, ...(body !== undefined ? { body } : {}) })

async function created(actor: string, url: string, body: unknown): Promise<{ id: string; slug: string }> {
  const res = await call(actor, 'POST', url, body)
  expect(res.status, res.body).toBe(201)
  return res.json
}
const newTeam = (tenantId = w.nodes.T1!.id!, actor = 't_admin') => created(actor, `/v1/tenants/${tenantId}/teams`, { slug: `tm-${uniq()}`, name: 'Team' })
const newProject = (teamId = w.nodes.A!.id!, actor = 't_admin', slug = `p-${uniq()}`) =>
  created(actor, `/v1/teams/${teamId}/projects`, { slug, name: 'Project' })

/** A member of T1 bound as project_viewer of the project, with a fresh token. */
async function viewerOf(projectId: string, teamId: string): Promise<{ userId: string; token: string }> {
  const [u] = await h.sql('INSERT INTO users (email) VALUES ($1) RETURNING id', [`v-${uniq()}@example.test`])
  const tenant = w.nodes.T1!.id!
  await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [tenant, u.id])
  await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id, team_id, project_id) VALUES ($1, 'project_viewer', 'project', $2, $3, $4)", [
    u.id,
    tenant,
    teamId,
    projectId,
  ])
  return { userId: u.id, token: (await h.login(u.id, tenant)).access }
}

const feedVersion = async () => (await service('GET', '/v1/service/revocations?since=0')).json.version as number

describe('DELETE /v1/projects/{id}', () => {
  it('revokes its keys and worker tokens, removes its bindings, hides it everywhere and frees its slug', async () => {
    const team = w.nodes.A!.id!
    const p = await newProject(team)
    const key = (await call('t_admin', 'POST', `/v1/projects/${p.id}/apikeys`, { name: 'k', role: 'project_viewer' })).json
    const worker = (await call('t_admin', 'POST', `/v1/projects/${p.id}/worker-tokens`, { name: 'w' })).json
    const viewer = await viewerOf(p.id, team)
    expect((await h.request('GET', `/v1/projects/${p.id}`, { token: viewer.token })).status).toBe(200)
    expect((await service('POST', '/v1/service/credentials/verify', { token: key.token })).json.valid).toBe(true)
    const settings = (await service('GET', '/v1/service/projects?region=eu')).json
    expect(settings.items.map((i: { projectId: string }) => i.projectId)).toContain(p.id)
    const since = await feedVersion()

    const res = await call('t_admin', 'DELETE', `/v1/projects/${p.id}`, { confirm: p.slug })
    expect(res.status, res.body).toBe(204)

    // gone: read, list, settings, the runtimes' settings feed
    expect((await call('t_admin', 'GET', `/v1/projects/${p.id}`)).status).toBe(404)
    expect((await call('t_admin', 'GET', `/v1/projects/${p.id}/settings`)).status).toBe(404)
    expect((await call('t_admin', 'GET', `/v1/teams/${team}/projects`)).json.items.map((i: { id: string }) => i.id)).not.toContain(p.id)
    expect((await call('sys', 'GET', `/v1/rolebindings?kind=project&id=${p.id}`)).status).toBe(404)
    // the runtimes' settings feed: a first sync lists it as deleted (a runtime down at the time still purges its
    // data); a runtime that synced before is told to forget it
    const first = (await service('GET', '/v1/service/projects?region=eu')).json.items.filter((i: { projectId: string }) => i.projectId === p.id)
    expect(first).toEqual([expect.objectContaining({ projectId: p.id, tenantId: expect.any(String), deleted: true })])
    const changed = (await service('GET', `/v1/service/projects?region=eu&since=${settings.version}`)).json
    expect(changed.items).toEqual([expect.objectContaining({ projectId: p.id, deleted: true })])
    expect(changed.version).toBeGreaterThan(settings.version)

    // credentials: refused by verification, announced in the revocation feed
    for (const t of [key.token, worker.token]) expect((await service('POST', '/v1/service/credentials/verify', { token: t })).json).toEqual({ valid: false })
    const feed = (await service('GET', `/v1/service/revocations?since=${since}`)).json.items as { kind: string; subject: string }[]
    expect(feed).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'credential', subject: key.credential.id, reason: 'project deleted' }),
        expect.objectContaining({ kind: 'credential', subject: worker.credential.id }),
        expect.objectContaining({ kind: 'user', subject: viewer.userId }),
      ]),
    )
    expect(feed.filter((i) => i.kind === 'user' && i.subject === viewer.userId)).toHaveLength(1)
    // the key itself no longer authenticates here either, and the viewer's token (carrying the binding) is dead
    expect((await h.request('GET', '/v1/me', { token: key.token })).status).toBe(401)
    expect((await h.request('GET', '/v1/me', { token: viewer.token })).status).toBe(401)
    expect(await h.sql('SELECT 1 FROM role_bindings WHERE project_id = $1', [p.id])).toEqual([])
    // the row stays, marked deleted; the slug can be used again; a second delete finds nothing
    expect((await h.sql('SELECT deleted_at FROM projects WHERE id = $1', [p.id]))[0].deleted_at).toBeInstanceOf(Date)
    const again = await newProject(team, 't_admin', p.slug)
    expect(again.id).not.toBe(p.id)
    expect((await call('t_admin', 'DELETE', `/v1/projects/${p.id}`, { confirm: p.slug })).status).toBe(404)
    expect((await call('t_admin', 'PATCH', `/v1/projects/${p.id}`, { name: 'x' })).status).toBe(404)
    expect((await call('t_admin', 'POST', `/v1/projects/${p.id}/apikeys`, { name: 'k', role: 'project_viewer' })).status).toBe(404)
  })

  it('needs the slug typed in `confirm`: missing or wrong is a 400 naming the field, and nothing changes', async () => {
    const p = await newProject()
    const key = (await call('t_admin', 'POST', `/v1/projects/${p.id}/apikeys`, { name: 'k', role: 'project_viewer' })).json
    const since = await feedVersion()
    const cases = [
      await h.request('DELETE', `/v1/projects/${p.id}`, { token: token('t_admin') }),
      await call('t_admin', 'DELETE', `/v1/projects/${p.id}`, {}),
      await call('t_admin', 'DELETE', `/v1/projects/${p.id}`, { confirm: `${p.slug}-x` }),
      await call('t_admin', 'DELETE', `/v1/projects/${p.id}`, { confirm: p.slug.toUpperCase() }),
      await call('t_admin', 'DELETE', `/v1/projects/${p.id}`, { confirm: p.slug, extra: true }),
    ]
    for (const c of cases) {
      expect(c.status, c.body).toBe(400)
      expect(c.json.error.code).toBe('invalid_request')
    }
    for (const c of cases.slice(0, 4)) expect(c.json.error.message).toMatch(/confirm/)
    expect((await call('t_admin', 'GET', `/v1/projects/${p.id}`)).status).toBe(200)
    expect((await service('POST', '/v1/service/credentials/verify', { token: key.token })).json.valid).toBe(true)
    expect((await service('GET', `/v1/service/revocations?since=${since}`)).json.items).toEqual([])
  })

  it('is 404 for an unknown or invisible project and 403 without project.delete', async () => {
    const c1 = w.nodes.C1!.id!
    const c1Slug = (await h.sql('SELECT slug FROM projects WHERE id = $1', [c1]))[0].slug
    const unknown = '00000000-0000-4000-8000-000000000000'
    expect((await call('t_admin', 'DELETE', `/v1/projects/${c1}`, { confirm: c1Slug })).status).toBe(404)
    expect((await call('t_admin', 'DELETE', `/v1/projects/${unknown}`, { confirm: 'x' })).status).toBe(404)
    const a1 = w.nodes.A1!.id!
    const a1Slug = (await h.sql('SELECT slug FROM projects WHERE id = $1', [a1]))[0].slug
    for (const actor of ['p_admin', 'p_editor', 'team_viewer', 't_viewer', 'auditor_t', 'support_sys']) {
      const res = await call(actor, 'DELETE', `/v1/projects/${a1}`, { confirm: a1Slug })
      expect(res.status, actor).toBe(403)
      expect(res.json.error.code).toBe('forbidden')
    }
    // a foreign caller learns nothing from a wrong confirmation either
    expect((await call('t_admin', 'DELETE', `/v1/projects/${c1}`, { confirm: 'wrong' })).status).toBe(404)
    expect((await call('sys', 'GET', `/v1/projects/${a1}`)).status).toBe(200)
    expect((await call('sys', 'GET', `/v1/projects/${c1}`)).status).toBe(200)
  })

  it('team admins delete projects of their team', async () => {
    const p = await newProject(w.nodes.A!.id!, 'team_admin')
    expect((await call('team_admin', 'DELETE', `/v1/projects/${p.id}`, { confirm: p.slug })).status).toBe(204)
    const b = await newProject(w.nodes.B!.id!, 't_admin')
    expect((await call('team_admin', 'DELETE', `/v1/projects/${b.id}`, { confirm: b.slug })).status).toBe(404)
  })
})

describe('DELETE /v1/teams/{id}', () => {
  it('refuses a team with projects (409 not_empty with the count), then deletes it once empty', async () => {
    const team = await newTeam()
    const p1 = await newProject(team.id)
    const p2 = await newProject(team.id)
    const full = await call('t_admin', 'DELETE', `/v1/teams/${team.id}`, { confirm: team.slug })
    expect(full.status).toBe(409)
    expect(full.json.error).toMatchObject({ code: 'not_empty', message: expect.stringContaining('2 projects'), details: { projects: 2 } })
    expect((await call('t_admin', 'DELETE', `/v1/projects/${p1.id}`, { confirm: p1.slug })).status).toBe(204)
    const one = await call('t_admin', 'DELETE', `/v1/teams/${team.id}`, { confirm: team.slug })
    expect(one.json.error).toMatchObject({ code: 'not_empty', message: expect.stringContaining('1 project'), details: { projects: 1 } })
    expect((await call('t_admin', 'DELETE', `/v1/projects/${p2.id}`, { confirm: p2.slug })).status).toBe(204)

    // a binding at the team goes, with a user revocation
    const [u] = await h.sql('INSERT INTO users (email) VALUES ($1) RETURNING id', [`tv-${uniq()}@example.test`])
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [w.nodes.T1!.id, u.id])
    await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id, team_id) VALUES ($1, 'team_viewer', 'team', $2, $3)", [
      u.id,
      w.nodes.T1!.id,
      team.id,
    ])
    const since = await feedVersion()
    expect((await call('t_admin', 'DELETE', `/v1/teams/${team.id}`, { confirm: 'nope' })).status).toBe(400)
    expect((await call('t_admin', 'DELETE', `/v1/teams/${team.id}`, {})).json.error.message).toMatch(/confirm/)
    expect((await call('t_admin', 'DELETE', `/v1/teams/${team.id}`, { confirm: team.slug })).status).toBe(204)
    expect((await call('t_admin', 'GET', `/v1/teams/${team.id}`)).status).toBe(404)
    expect((await call('t_admin', 'GET', `/v1/tenants/${w.nodes.T1!.id}/teams`)).json.items.map((t: { id: string }) => t.id)).not.toContain(team.id)
    expect((await call('t_admin', 'POST', `/v1/teams/${team.id}/projects`, { slug: `p-${uniq()}`, name: 'late' })).status).toBe(404)
    expect(await h.sql('SELECT 1 FROM role_bindings WHERE team_id = $1', [team.id])).toEqual([])
    const feed = (await service('GET', `/v1/service/revocations?since=${since}`)).json.items
    expect(feed).toEqual([expect.objectContaining({ kind: 'user', subject: u.id, reason: 'team deleted' })])
    // the slug is free again
    expect((await call('t_admin', 'POST', `/v1/tenants/${w.nodes.T1!.id}/teams`, { slug: team.slug, name: 'again' })).status).toBe(201)
  })

  it('is 404 for a foreign team and 403 for a team admin deleting their own team', async () => {
    const c = w.nodes.C!.id!
    expect((await call('t_admin', 'DELETE', `/v1/teams/${c}`, { confirm: 'c-team' })).status).toBe(404)
    expect((await call('p_admin', 'DELETE', `/v1/teams/${w.nodes.B!.id}`, { confirm: 'b-team' })).status).toBe(404)
    const res = await call('team_admin', 'DELETE', `/v1/teams/${w.nodes.A!.id}`, { confirm: 'a-team' })
    expect(res.status).toBe(403)
    expect((await call('p_admin', 'DELETE', `/v1/teams/${w.nodes.A!.id}`, { confirm: 'a-team' })).status).toBe(403)
    expect((await call('sys', 'GET', `/v1/teams/${w.nodes.A!.id}`)).status).toBe(200)
  })
})

describe('DELETE /v1/tenants/{id}', () => {
  it('refuses a tenant with teams (409 not_empty), then deletes it with its members, providers and confined sessions', async () => {
    const t = await created('sys', '/v1/tenants', { slug: `t-${uniq()}`, name: 'Doomed', region: 'eu' })
    const team = await newTeam(t.id, 'sys')
    const full = await call('sys', 'DELETE', `/v1/tenants/${t.id}`, { confirm: t.slug })
    expect(full.status).toBe(409)
    expect(full.json.error).toMatchObject({ code: 'not_empty', details: { teams: 1 }, message: expect.stringContaining('1 team') })
    expect((await call('sys', 'DELETE', `/v1/teams/${team.id}`, { confirm: team.slug })).status).toBe(204)

    const invited = await call('sys', 'POST', `/v1/tenants/${t.id}/members`, {
      email: `m-${uniq()}@example.test`,
      role: 'tenant_admin',
      scope: { kind: 'tenant', id: t.id },
    })
    expect(invited.status).toBe(201)
    const userId = invited.json.member.userId
    const idp = await call('sys', 'POST', `/v1/tenants/${t.id}/idps`, {
      kind: 'saml',
      name: 'corp',
      saml: { ssoUrl: 'https://idp.example.test/sso', idpEntityId: 'idp', idpCertificate: 'pem' },
    })
    expect(idp.status).toBe(201)
    const confined = await h.s.sessions.create(h.s.db, userId, 'saml', t.id)
    const memberToken = (await h.login(userId, t.id)).access
    expect((await h.request('GET', `/v1/tenants/${t.id}`, { token: memberToken })).status).toBe(200)
    const since = await feedVersion()

    expect((await call('sys', 'DELETE', `/v1/tenants/${t.id}`, { confirm: 'wrong' })).status).toBe(400)
    expect((await call('sys', 'GET', `/v1/idps/${idp.json.id}`)).status).toBe(200)
    expect((await call('sys', 'DELETE', `/v1/tenants/${t.id}`, { confirm: t.slug })).status).toBe(204)

    expect((await call('sys', 'GET', `/v1/tenants/${t.id}`)).status).toBe(404)
    expect((await call('sys', 'GET', '/v1/tenants')).json.items.map((x: { id: string }) => x.id)).not.toContain(t.id)
    expect((await call('sys', 'GET', `/v1/idps/${idp.json.id}`)).status).toBe(404)
    expect((await h.request('GET', `/v1/auth/providers?tenant=${t.slug}`)).json.items).toEqual([])
    expect((await call('sys', 'POST', `/v1/tenants/${t.id}/teams`, { slug: `tm-${uniq()}`, name: 'late' })).status).toBe(404)
    expect(await h.sql('SELECT 1 FROM memberships WHERE tenant_id = $1', [t.id])).toEqual([])
    expect(await h.sql('SELECT 1 FROM role_bindings WHERE tenant_id = $1', [t.id])).toEqual([])
    expect((await h.request('GET', '/v1/me', { token: memberToken })).status).toBe(401)
    const feed = (await service('GET', `/v1/service/revocations?since=${since}`)).json.items
    expect(feed).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'session', subject: confined.sessionId, reason: 'tenant deleted' }),
        expect.objectContaining({ kind: 'user', subject: userId, reason: 'tenant deleted' }),
      ]),
    )
    // the slug is free again
    expect((await call('sys', 'POST', '/v1/tenants', { slug: t.slug, name: 'Reborn', region: 'eu' })).status).toBe(201)
  })

  it("ends a user's tokens for the deleted tenant only: their access to their other tenants stays", async () => {
    const doomed = await created('sys', '/v1/tenants', { slug: `t-${uniq()}`, name: 'Doomed', region: 'eu' })
    const [u] = await h.sql('INSERT INTO users (email) VALUES ($1) RETURNING id', [`both-${uniq()}@example.test`])
    const other = w.nodes.T1!.id!
    for (const tenant of [doomed.id, other]) {
      await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [tenant, u.id])
      await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id) VALUES ($1, 'tenant_viewer', 'tenant', $2)", [u.id, tenant])
    }
    const inDoomed = (await h.login(u.id, doomed.id)).access
    const inOther = (await h.login(u.id, other)).access
    expect((await h.request('GET', `/v1/tenants/${doomed.id}`, { token: inDoomed })).status).toBe(200)
    expect((await h.request('GET', `/v1/tenants/${other}`, { token: inOther })).status).toBe(200)
    const since = await feedVersion()

    expect((await call('sys', 'DELETE', `/v1/tenants/${doomed.id}`, { confirm: doomed.slug })).status).toBe(204)

    expect((await h.request('GET', '/v1/me', { token: inDoomed })).status).toBe(401)
    // the token for the other tenant, and a new one, still work there
    expect((await h.request('GET', `/v1/tenants/${other}`, { token: inOther })).status).toBe(200)
    expect((await h.request('GET', `/v1/tenants/${other}`, { token: (await h.login(u.id, other)).access })).status).toBe(200)
    // the runtimes are told the same: the row names the deleted tenant
    const rows = (await service('GET', `/v1/service/revocations?since=${since}`)).json.items.filter(
      (r: { kind: string; subject: string }) => r.kind === 'user' && r.subject === u.id,
    )
    expect(rows).toEqual([expect.objectContaining({ reason: 'tenant deleted', tenantId: doomed.id })])
  })

  it("a project's or a team's deletion ends only the tokens of their tenant too", async () => {
    const team = await newTeam()
    const p = await newProject(team.id)
    const viewer = await viewerOf(p.id, team.id)
    const t2 = w.nodes.T2!.id!
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [t2, viewer.userId])
    await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id) VALUES ($1, 'tenant_viewer', 'tenant', $2)", [viewer.userId, t2])
    const inT2 = (await h.login(viewer.userId, t2)).access
    const since = await feedVersion()

    expect((await call('t_admin', 'DELETE', `/v1/projects/${p.id}`, { confirm: p.slug })).status).toBe(204)
    expect((await call('t_admin', 'DELETE', `/v1/teams/${team.id}`, { confirm: team.slug })).status).toBe(204)

    expect((await h.request('GET', '/v1/me', { token: viewer.token })).status).toBe(401)
    expect((await h.request('GET', `/v1/tenants/${t2}`, { token: inT2 })).status).toBe(200)
    const rows = (await service('GET', `/v1/service/revocations?since=${since}`)).json.items.filter(
      (r: { kind: string; subject: string }) => r.kind === 'user' && r.subject === viewer.userId,
    )
    expect(rows).toEqual([expect.objectContaining({ reason: 'project deleted', tenantId: w.nodes.T1!.id })])
  })

  it('is for system admins only: a tenant admin gets 403 on their tenant, 404 on another', async () => {
    const t1 = w.nodes.T1!.id!
    expect((await call('t_admin', 'DELETE', `/v1/tenants/${t1}`, { confirm: 't1-co' })).status).toBe(403)
    expect((await call('t_admin', 'DELETE', `/v1/tenants/${w.nodes.T2!.id}`, { confirm: 't2-co' })).status).toBe(404)
    expect((await call('team_admin', 'DELETE', `/v1/tenants/${t1}`, { confirm: 't1-co' })).status).toBe(403)
    expect((await call('sys', 'GET', `/v1/tenants/${t1}`)).status).toBe(200)
  })
})
