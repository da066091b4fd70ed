/** Isolation attacks, all refused: guessed ids, forged and tampered JWTs, other tenants and regions, dead credentials. */
import { randomUUID } from 'node:crypto'
import { base64url, decodeJwt, generateKeyPair, SignJWT } from 'jose'
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

const get = (url: string, token?: string) => h.request('GET', url, token ? { token } : {})
const enc = (o: object) => base64url.encode(JSON.stringify(o))

function claimsLike(token: string) {
  const c = decodeJwt(token)
  return { ...c, jti: randomUUID() }
}

describe('guessing ids of another tenant', () => {
  it('answers 404 for foreign ids exactly as for ids that do not exist', async () => {
    const t = w.byName('t_admin').token
    const foreign = await get(`/v1/projects/${w.nodes.C1!.id}`, t)
    const missing = await get(`/v1/projects/${randomUUID()}`, t)
    expect(foreign.status).toBe(404)
    expect(foreign.json).toEqual(missing.json)
    for (const url of [
      `/v1/tenants/${w.nodes.T2!.id}`,
      `/v1/teams/${w.nodes.C!.id}`,
      `/v1/projects/${w.nodes.C1!.id}/apikeys`,
      `/v1/projects/${w.nodes.C1!.id}/settings`,
    ]) {
      expect((await get(url, t)).status, url).toBe(404)
    }
    const patch = await h.request('PATCH', `/v1/projects/${w.nodes.C1!.id}`, { token: t, body: { name: 'pwned' } })
    expect(patch.status).toBe(404)
    expect((await h.sql('SELECT name FROM projects WHERE id = $1', [w.nodes.C1!.id]))[0].name).not.toBe('pwned')
  })

  it('does not let a binding or key be created on another tenant through a foreign user id', async () => {
    const foreignUser = w.byName('sys').userId
    const res = await h.request('POST', '/v1/rolebindings', {
      token: w.byName('t_admin').token,
      body: { userId: foreignUser, role: 'tenant_viewer', scope: { kind: 'tenant', id: w.nodes.T1!.id } },
    })
    expect(res.status).toBe(400)
    expect(res.json.error.code).toBe('invalid_request')
  })

  it('refuses a listing filtered by another tenant', async () => {
    const res = await get(`/v1/rolebindings?kind=tenant&id=${w.nodes.T2!.id}`, w.byName('t_admin').token)
    expect(res.status).toBe(404)
    const tenants = await get('/v1/tenants', w.byName('t_admin').token)
    expect(tenants.json.items.map((t: { id: string }) => t.id)).toEqual([w.nodes.T1!.id])
  })
})

describe('forged and tampered tokens', () => {
  it('refuses a token signed by another key under a real kid', async () => {
    const real = w.byName('sys').token
    const { kid } = JSON.parse(Buffer.from(real.split('.')[0]!, 'base64url').toString())
    const { privateKey } = await generateKeyPair('ES256')
    const forged = await new SignJWT(claimsLike(real)).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(privateKey)
    expect((await get('/v1/me', forged)).status).toBe(401)
  })

  it('refuses alg none, HMAC with the public key, and a tampered payload', async () => {
    const real = w.byName('p_viewer').token
    const [header, , sig] = real.split('.')
    const { kid } = JSON.parse(Buffer.from(header!, 'base64url').toString())
    const upgraded = { ...decodeJwt(real), rb: [{ role: 'system_admin', scope: {} }] }
    const none = `${enc({ alg: 'none', kid, typ: 'at+jwt' })}.${enc(upgraded)}.`
    expect((await get('/v1/me', none)).status).toBe(401)
    const jwk = (await get('/.well-known/jwks.json')).json.keys[0]
    const hs = await new SignJWT(upgraded).setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' }).sign(new TextEncoder().encode(JSON.stringify(jwk)))
    expect((await get('/v1/me', hs)).status).toBe(401)
    const tampered = `${header}.${enc(upgraded)}.${sig}`
    const res = await get('/v1/users', tampered)
    expect(res.status).toBe(401)
    expect(res.json).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } })
  })

  it('refuses a token of our key with a foreign issuer', async () => {
    const { kid, key } = await h.s.keys.signer()
    const t = await new SignJWT(claimsLike(w.byName('sys').token))
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer('https://evil.example')
      .sign(key)
    expect((await get('/v1/me', t)).status).toBe(401)
  })

  it('refuses a token whose region is not its tenant region', async () => {
    const a = w.byName('t_admin')
    const t = await h.s.access.issue({
      userId: a.userId,
      sessionId: decodeJwt(a.token).sid as string,
      tenantId: w.nodes.T1!.id,
      region: 'us',
      bindings: [{ role: 'tenant_admin', scope: { tenant: w.nodes.T1!.id } }],
    })
    expect((await get(`/v1/tenants/${w.nodes.T1!.id}`, t.token)).status).toBe(401)
  })

  it('confines a token to its tenant: another tenant, or a system admin token issued for T1, reaches nothing in T2', async () => {
    const [u] = await h.sql("INSERT INTO users (email) VALUES ('t2admin@example.test') RETURNING id")
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [w.nodes.T2!.id, u.id])
    await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id) VALUES ($1, 'tenant_admin', 'tenant', $2)", [u.id, w.nodes.T2!.id])
    const t2 = await h.login(u.id, w.nodes.T2!.id)
    expect((await get(`/v1/tenants/${w.nodes.T2!.id}`, t2.access)).status).toBe(200)
    expect((await get(`/v1/tenants/${w.nodes.T1!.id}`, t2.access)).status).toBe(404)
    expect((await get(`/v1/projects/${w.nodes.A1!.id}`, t2.access)).status).toBe(404)
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [w.nodes.T1!.id, w.byName('sys').userId])
    const sysT1 = await h.login(w.byName('sys').userId, w.nodes.T1!.id)
    expect((await get(`/v1/projects/${w.nodes.A1!.id}`, sysT1.access)).status).toBe(200)
    expect((await get(`/v1/projects/${w.nodes.C1!.id}`, sysT1.access)).status).toBe(404)
  })
})

describe('API keys and worker tokens', () => {
  it('are prefix-identifiable, bound to their project, and dead after revocation', async () => {
    const admin = w.byName('p_admin').token
    const created = await h.request('POST', `/v1/projects/${w.nodes.A1!.id}/apikeys`, { token: admin, body: { name: 'ci', role: 'project_viewer' } })
    expect(created.status).toBe(201)
    const key: string = created.json.token
    expect(key).toMatch(/^cfp_live_[a-z0-9]{10}_[A-Za-z0-9]{40}$/)
    expect(key.split('_')[2]).toBe(created.json.credential.prefix)
    const list = await get(`/v1/projects/${w.nodes.A1!.id}/apikeys`, admin)
    expect(JSON.stringify(list.json)).not.toContain(key.split('_')[3])
    expect((await get(`/v1/projects/${w.nodes.A1!.id}`, key)).status).toBe(200)
    expect((await get(`/v1/projects/${w.nodes.A2!.id}`, key)).status).toBe(404)
    expect((await get(`/v1/projects/${w.nodes.C1!.id}`, key)).status).toBe(404)
    expect((await h.request('PATCH', `/v1/projects/${w.nodes.A1!.id}`, { token: key, body: { name: 'x' } })).status).toBe(403)
    const verify = await h.request('POST', '/v1/service/credentials/verify', { token: SERVICE_TOKEN, body: { token: key } })
    expect(verify.json).toMatchObject({ valid: true, credential: { projectId: w.nodes.A1!.id, region: 'eu', role: 'project_viewer' } })

    const del = await h.request('DELETE', `/v1/projects/${w.nodes.A1!.id}/apikeys/${created.json.credential.id}`, { token: admin })
    expect(del.status).toBe(204)
    expect((await get(`/v1/projects/${w.nodes.A1!.id}`, key)).status).toBe(401)
    expect((await h.request('POST', '/v1/service/credentials/verify', { token: SERVICE_TOKEN, body: { token: key } })).json).toEqual({ valid: false })
    const feed = await h.request('GET', '/v1/service/revocations?since=0', { token: SERVICE_TOKEN })
    expect(feed.json.items).toContainEqual(expect.objectContaining({ kind: 'credential', subject: created.json.credential.id }))
    const wrongSecret = key.slice(0, -1) + (key.endsWith('a') ? 'b' : 'a')
    expect((await get('/v1/me', wrongSecret)).status).toBe(401)
  })

  it('cannot be created with more than the creator may grant', async () => {
    const editor = w.byName('p_editor').token
    expect((await h.request('POST', `/v1/projects/${w.nodes.A1!.id}/apikeys`, { token: editor, body: { name: 'k', role: 'project_viewer' } })).status).toBe(403)
    const admin = w.byName('p_admin').token
    const bad = await h.request('POST', `/v1/projects/${w.nodes.A1!.id}/apikeys`, {
      token: admin,
      body: { name: 'k', role: 'project_viewer', actions: ['state.write'] },
    })
    expect(bad.status).toBe(400)
  })

  it('a worker token only connects a worker for its project', async () => {
    const created = await h.request('POST', `/v1/projects/${w.nodes.A1!.id}/worker-tokens`, { token: w.byName('p_editor').token, body: { name: 'w1' } })
    expect(created.status).toBe(201)
    const wt: string = created.json.token
    expect(wt).toMatch(/^cfp_wkr_/)
    expect((await get(`/v1/projects/${w.nodes.A1!.id}`, wt)).status).toBe(403)
    const check = (scope: object) => h.request('POST', '/v1/authz/check', { token: wt, body: { action: 'worker.connect', scope } })
    expect((await check({ kind: 'project', id: w.nodes.A1!.id })).json.allowed).toBe(true)
    expect((await check({ kind: 'project', id: w.nodes.A2!.id })).json.allowed).toBe(false)
    const verify = await h.request('POST', '/v1/service/credentials/verify', { token: SERVICE_TOKEN, body: { token: wt } })
    expect(verify.json.credential).toMatchObject({ kind: 'worker', projectId: w.nodes.A1!.id, actions: ['worker.connect'] })
  })
})
