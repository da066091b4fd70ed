/**
 * Every control-plane change route enqueues its audit entry in the change's own transaction; sign-ins, refreshes,
 * refresh-token reuse, revocations and logouts are recorded; a refused request (403) writes `authz.denied`; a change
 * that fails leaves no entry; and no secret written through any route appears anywhere in the audit tables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashPassword } from '../auth/passwords.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { chains, drain, entries, type Entry, ofKind, verifyStored } from '../test-support/audit.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
const PASSWORD = 'Pa55word-never-logged-7f3c91'
const EMAIL = 'local.admin@audit.example'
let localUser: string

beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
  const [u] = await h.sql('INSERT INTO users (email, display_name, password_hash) VALUES ($1, $2, $3) RETURNING id', [
    EMAIL,
    'Local',
    await hashPassword(PASSWORD),
  ])
  localUser = u.id
  await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind) VALUES ($1, 'system_admin', 'system')", [localUser])
})
afterAll(async () => h?.close())

const tok = (name: string) => w.byName(name).token
const id = (node: string) => w.nodes[node]!.id!
const call = async (who: string, method: string, url: string, body?: unknown) =>
  h.request(method, url, {
    token: tok(who),
    ...(body !== undefined ? { body } : {}),
    headers: { 'user-agent': 'audit-test/1', traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` },
  })

/** The one new entry of `kind` since `before` (entries counted per kind). */
async function last(kind: string): Promise<Entry> {
  const all = await ofKind(h, kind)
  expect(all.length).toBeGreaterThan(0)
  return all.sort((a, b) => a.time.localeCompare(b.time) || a.seq - b.seq)[all.length - 1]!
}

describe('recording changes', () => {
  it('records a change with its actor, session, scope, target, outcome, request, trace, address and user agent', async () => {
    const res = await call('team_admin', 'POST', `/v1/teams/${id('A')}/projects`, { slug: 'audited-proj', name: 'Audited' })
    expect(res.status).toBe(201)
    const e = await last('project.create')
    const actor = w.byName('team_admin')
    expect(e).toMatchObject({
      chain: `control:${id('T1')}`,
      kind: 'project.create',
      actor: { type: 'user', id: actor.userId, auth: 'session' },
      scope: { tenant: id('T1'), team: id('A'), project: res.json.id },
      target: { type: 'project', id: res.json.id },
      outcome: { status: 'ok', code: null },
      request: { trace: 'ab'.repeat(16), addr: '127.0.0.1', ua: 'audit-test/1' },
      details: { slug: 'audited-proj', name: 'Audited', team: id('A') },
    })
    expect(e.sid).toMatch(/^[0-9a-f-]{36}$/)
    expect(e.request.id).toBeTruthy()
  })

  it('records every change route under its kind, in its tenant’s chain (tenant creation in the system chain)', async () => {
    const t1 = id('T1')
    const steps: [string, string, string, string, unknown, number][] = [
      ['sys', 'POST', '/v1/tenants', 'tenant.create', { slug: 'audit-tenant', name: 'Audit', region: 'eu' }, 201],
      ['t_admin', 'PATCH', `/v1/tenants/${t1}`, 'tenant.update', { name: 'T1 renamed' }, 200],
      ['t_admin', 'POST', `/v1/tenants/${t1}/teams`, 'team.create', { slug: 'audit-team', name: 'Audit team' }, 201],
      ['team_admin', 'PATCH', `/v1/teams/${id('A')}`, 'team.update', { name: 'A renamed' }, 200],
      ['p_admin', 'PATCH', `/v1/projects/${id('A1')}`, 'project.update', { name: 'A1 renamed' }, 200],
      ['t_admin', 'POST', `/v1/tenants/${t1}/members`, 'membership.create', { email: 'new.member@audit.example' }, 201],
      ['t_admin', 'PUT', `/v1/tenants/${t1}/limits`, 'limits.update', { maxBodyBytes: 100_000 }, 200],
      ['p_admin', 'PUT', `/v1/projects/${id('A1')}/cors`, 'cors.update', { allowedOrigins: ['https://app.example'], allowCredentials: false }, 200],
      ['p_admin', 'PUT', `/v1/projects/${id('A1')}/validation`, 'validation.update', { strict: true }, 200],
      [
        'p_admin',
        'PUT',
        `/v1/projects/${id('A1')}/diagnostics`,
        'settings.update',
        { emit: false, stateWrite: false, dlqReplay: false, stepSource: false },
        200,
      ],
      ['p_admin', 'POST', `/v1/projects/${id('A1')}/apikeys`, 'api_key.create', { name: 'k1', role: 'project_viewer' }, 201],
      ['p_admin', 'POST', `/v1/projects/${id('A1')}/worker-tokens`, 'worker_token.create', { name: 'w1' }, 201],
    ]
    for (const [who, method, url, kind, body, status] of steps) {
      const before = (await ofKind(h, kind)).length
      const res = await call(who, method, url, body)
      expect(res.status, `${method} ${url}: ${res.body}`).toBe(status)
      const after = await ofKind(h, kind)
      expect(after.length, kind).toBe(before + 1)
      const e = after.sort((a, b) => a.time.localeCompare(b.time))[after.length - 1]!
      expect(e.actor.id).toBe(w.byName(who).userId)
      expect(e.chain).toBe(kind === 'tenant.create' ? 'control:system' : `control:${t1}`)
    }
    const member = (await ofKind(h, 'user.create')).find((e) => e.details.email_domain === 'audit.example')
    expect(member).toBeDefined()
    const limits = await last('limits.update')
    expect(limits.details).toMatchObject({ level: 'tenant', to: { maxBodyBytes: 100_000 } })
  })

  it('records role bindings, revocations of keys and deletions', async () => {
    const t1 = id('T1')
    const user = (await h.sql('SELECT id FROM users WHERE email = $1', ['new.member@audit.example']))[0].id
    const bound = await call('t_admin', 'POST', '/v1/rolebindings', { userId: user, role: 'project_viewer', scope: { kind: 'project', id: id('A2') } })
    expect(bound.status).toBe(201)
    expect(await last('role_binding.create')).toMatchObject({
      target: { type: 'role_binding', id: bound.json.id },
      details: { principal: user, role: 'project_viewer' },
    })
    expect((await call('t_admin', 'DELETE', `/v1/rolebindings/${bound.json.id}`)).status).toBe(204)
    expect(await last('role_binding.delete')).toMatchObject({ target: { id: bound.json.id } })
    expect((await call('t_admin', 'DELETE', `/v1/tenants/${t1}/members/${user}`)).status).toBe(204)
    expect(await last('membership.delete')).toMatchObject({ details: { user } })

    const key = await call('p_admin', 'POST', `/v1/projects/${id('A1')}/apikeys`, { name: 'k2', role: 'project_viewer' })
    expect((await call('p_admin', 'DELETE', `/v1/projects/${id('A1')}/apikeys/${key.json.credential.id}`)).status).toBe(204)
    expect(await last('api_key.revoke')).toMatchObject({ target: { type: 'api_key', id: key.json.credential.id } })

    const team = await call('t_admin', 'POST', `/v1/tenants/${t1}/teams`, { slug: 'doomed-team', name: 'Doomed' })
    expect((await call('t_admin', 'DELETE', `/v1/teams/${team.json.id}`, { confirm: 'doomed-team' })).status).toBe(204)
    expect(await last('team.delete')).toMatchObject({ target: { type: 'team', id: team.json.id }, scope: { tenant: t1, team: team.json.id } })
  })

  it('records identity providers and their mappings', async () => {
    const t1 = id('T1')
    const idp = await call('t_admin', 'POST', `/v1/tenants/${t1}/idps`, {
      kind: 'oidc',
      name: 'audited-idp',
      clientSecret: 'oidc-client-secret-0d9e8f',
      oidc: { issuer: 'https://idp.example.test', clientId: 'cfp', scopes: ['groups'], groupsClaim: 'roles' },
    })
    expect(idp.status).toBe(201)
    expect(await last('idp.create')).toMatchObject({ target: { type: 'idp', id: idp.json.id }, details: { protocol: 'oidc', name: 'audited-idp' } })
    expect((await call('t_admin', 'PATCH', `/v1/idps/${idp.json.id}`, { clientSecret: 'oidc-client-secret-rotated-77aa', enabled: false })).status).toBe(200)
    expect((await last('idp.update')).details.changed).toEqual(['enabled', 'clientSecret'])
    const maps = await call('t_admin', 'PUT', `/v1/idps/${idp.json.id}/group-mappings`, { mappings: [{ group: 'eng', role: 'team_viewer', teamId: id('A') }] })
    expect(maps.status).toBe(200)
    expect((await last('idp.group_mapping.update')).details.mappings).toBe(1)
    expect((await call('t_admin', 'DELETE', `/v1/idps/${idp.json.id}`)).status).toBe(204)
    expect(await last('idp.delete')).toMatchObject({ target: { id: idp.json.id } })
  })

  it('leaves no entry when the change fails (a duplicate slug rolls back)', async () => {
    const before = (await ofKind(h, 'project.create')).length
    const res = await call('team_admin', 'POST', `/v1/teams/${id('A')}/projects`, { slug: 'audited-proj', name: 'Again' })
    expect(res.status).toBe(409)
    expect((await ofKind(h, 'project.create')).length).toBe(before)
  })
})

describe('recording denied requests', () => {
  it('writes authz.denied for a 403 with the permission, route and target, and nothing of the refused change', async () => {
    const before = (await ofKind(h, 'project.update')).length
    const res = await call('p_viewer', 'PATCH', `/v1/projects/${id('A1')}`, { name: 'nope' })
    expect(res.status).toBe(403)
    const e = await last('authz.denied')
    expect(e).toMatchObject({
      chain: `control:${id('T1')}`,
      actor: { type: 'user', id: w.byName('p_viewer').userId },
      outcome: { status: 'denied', code: 'forbidden' },
      target: { type: 'project', id: id('A1') },
      details: { permission: 'project.update', method: 'PATCH', route: '/v1/projects/:projectId' },
    })
    expect((await ofKind(h, 'project.update')).length).toBe(before)
  })

  it('writes no denied entry for a 404 (the caller may not learn the target exists)', async () => {
    const before = (await ofKind(h, 'authz.denied')).length
    expect((await call('p_admin', 'PATCH', `/v1/projects/${id('C1')}`, { name: 'nope' })).status).toBe(404)
    expect((await ofKind(h, 'authz.denied')).length).toBe(before)
  })
})

describe('recording sign-ins and sessions', () => {
  it('records password sign-ins, failures with a reason, refreshes, refresh-token reuse, revocation and logout', async () => {
    const bad = await h.request('POST', '/v1/auth/login', { body: { email: EMAIL, password: 'wrong-password-x' } })
    expect(bad.status).toBe(401)
    expect(await last('auth.login')).toMatchObject({
      chain: 'control:system',
      actor: { type: 'anonymous', id: null },
      outcome: { status: 'denied', code: 'login_failed' },
      target: { type: 'user', id: localUser },
      details: { method: 'password', reason: 'wrong_password', email_domain: 'audit.example' },
    })
    const ok = await h.request('POST', '/v1/auth/login', { body: { email: EMAIL, password: PASSWORD } })
    expect(ok.status).toBe(200)
    const login = await last('auth.login')
    expect(login).toMatchObject({ actor: { type: 'user', id: localUser, auth: 'password' }, outcome: { status: 'ok' }, details: { method: 'password' } })

    const refreshed = await h.request('POST', '/v1/auth/token', { body: { grant_type: 'refresh_token', refresh_token: ok.json.refresh_token } })
    expect(refreshed.status).toBe(200)
    expect(await last('auth.refresh')).toMatchObject({ sid: login.sid, actor: { id: localUser } })
    const reused = await h.request('POST', '/v1/auth/token', { body: { grant_type: 'refresh_token', refresh_token: ok.json.refresh_token } })
    expect(reused.status).toBe(400)
    expect(await last('auth.refresh_reuse')).toMatchObject({ sid: login.sid, outcome: { status: 'denied', code: 'refresh_token_reuse' } })

    const second = await h.request('POST', '/v1/auth/login', { body: { email: EMAIL, password: PASSWORD } })
    expect((await h.request('POST', '/v1/auth/revoke', { body: { token: second.json.refresh_token } })).status).toBe(200)
    expect(await last('auth.revoke')).toMatchObject({ target: { type: 'session' }, details: { what: 'refresh_family' } })

    const third = await h.request('POST', '/v1/auth/login', { body: { email: EMAIL, password: PASSWORD } })
    expect((await h.request('POST', '/v1/auth/logout', { token: third.json.access_token })).status).toBe(200)
    const logout = await last('auth.logout')
    expect(logout).toMatchObject({ actor: { id: localUser }, details: { method: 'local' } })
    expect(logout.sid).toBe(logout.target?.id)
  })
})

describe('no secret enters the audit log', () => {
  it('finds none of the passwords, tokens, keys and client secrets written through the routes in any audit table', async () => {
    const secrets: string[] = [PASSWORD, 'oidc-client-secret-0d9e8f', 'oidc-client-secret-rotated-77aa', 'wrong-password-x']
    // sign-ins, refresh and runtime tokens
    const login = await h.request('POST', '/v1/auth/login', { body: { email: EMAIL, password: PASSWORD } })
    secrets.push(login.json.access_token, login.json.refresh_token)
    const rt = await h.request('POST', '/v1/tokens/runtime', { token: login.json.access_token, body: {} })
    expect(rt.status).toBe(200)
    secrets.push(rt.json.access_token)
    const refreshed = await h.request('POST', '/v1/auth/token', { body: { grant_type: 'refresh_token', refresh_token: login.json.refresh_token } })
    secrets.push(refreshed.json.access_token, refreshed.json.refresh_token)
    // credentials
    const key = await call('p_admin', 'POST', `/v1/projects/${id('A1')}/apikeys`, { name: 'secret-key', role: 'project_viewer' })
    const worker = await call('p_admin', 'POST', `/v1/projects/${id('A1')}/worker-tokens`, { name: 'secret-worker' })
    secrets.push(key.json.token, worker.json.token)
    expect((await h.request('POST', '/v1/auth/revoke', { body: { token: worker.json.token } })).status).toBe(200)
    expect((await h.request('POST', '/v1/auth/revoke', { body: { token: refreshed.json.access_token } })).status).toBe(200)
    // an identity provider's client secret, set and rotated
    const idp = await call('t_admin', 'POST', `/v1/tenants/${id('T1')}/idps`, {
      kind: 'oidc',
      name: 'secret-idp',
      clientSecret: 'another-client-secret-55e1',
      oidc: { issuer: 'https://idp2.example.test', clientId: 'cfp', scopes: ['groups'], groupsClaim: 'roles' },
    })
    secrets.push('another-client-secret-55e1')
    await call('t_admin', 'PATCH', `/v1/idps/${idp.json.id}`, { clientSecret: 'rotated-client-secret-b00c' })
    secrets.push('rotated-client-secret-b00c')
    // the signing keys' and audit keys' private parts, and the master key
    for (const r of await h.sql('SELECT private_enc FROM signing_keys UNION ALL SELECT private_enc FROM audit_keys')) secrets.push(r.private_enc)
    secrets.push(h.s.options.masterKey)
    await drain(h, true)

    const texts = [
      ...(await h.sql('SELECT leaf AS t FROM audit_entries')).map((r) => r.t as string),
      ...(await h.sql('SELECT entry AS t FROM audit_queue')).map((r) => r.t as string),
      ...(await h.sql('SELECT note AS t FROM audit_checkpoints')).map((r) => r.t as string),
      ...(await h.sql("SELECT concat_ws(' ', chain, kind, actor_id, sid, tenant_id, target_id, request_id) AS t FROM audit_entries")).map((r) => r.t as string),
    ]
    expect(texts.length).toBeGreaterThan(50)
    const all = texts.join('\n')
    for (const secret of secrets) {
      expect(typeof secret === 'string' && secret.length >= 12, 'a secret to look for').toBe(true)
      expect(all.includes(secret), `a secret (${secret.slice(0, 6)}…) is in the audit log`).toBe(false)
      // nor its distinctive part (a token's random tail)
      const tail = secret.slice(-16)
      expect(all.includes(tail), `the tail of a secret (${secret.slice(0, 6)}…) is in the audit log`).toBe(false)
    }
  })
})

describe('the chains after all this', () => {
  it('uses only kinds of the event catalogue (audit/events.json) written by the control plane', async () => {
    const { readFileSync } = await import('node:fs')
    const catalogue = JSON.parse(readFileSync(new URL('../../../../audit/events.json', import.meta.url), 'utf8')) as {
      kinds: { kind: string; plane: string; status: string }[]
    }
    const known = new Map(catalogue.kinds.map((k) => [k.kind, k]))
    const used = (await h.sql('SELECT DISTINCT kind FROM audit_entries')).map((r) => r.kind as string)
    expect(used.length).toBeGreaterThan(25)
    for (const kind of used) {
      const k = known.get(kind)
      expect(k, `${kind} is not in audit/events.json`).toBeDefined()
      expect(k!.plane.split('|'), kind).toContain('control')
      expect(k!.status, kind).toBe('active')
    }
  })

  it('every chain verifies with the standalone verifier, checkpoints included', async () => {
    await drain(h, true)
    const ids = await chains(h)
    expect(ids).toContain('control:system')
    expect(ids).toContain(`control:${id('T1')}`)
    for (const chain of ids) expect(await verifyStored(h, chain), chain).toMatchObject({ ok: true })
    expect((await entries(h)).every((e) => e.request.id !== undefined)).toBe(true)
  })
})
