/** Access tokens, refresh rotation with reuse detection, logout, RFC 7009 revocation, the revocation feed, JWKS rotation. */
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock.js'
import { maintenance } from '../server.js'
import { createHarness, SERVICE_TOKEN, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'))

beforeAll(async () => {
  h = await createHarness({ clock })
  w = await seedWorld(h)
})
afterAll(async () => h?.close())

const me = (token: string) => h.request('GET', '/v1/me', { token })
const refresh = (refresh_token: string, extra: object = {}) =>
  h.request('POST', '/v1/auth/token', { body: { grant_type: 'refresh_token', refresh_token, ...extra } })

describe('access tokens', () => {
  it('are short-lived ES256 JWTs with kid, audiences, tenant, region and role bindings', async () => {
    const a = w.byName('p_admin')
    const header = decodeProtectedHeader(a.token)
    const claims = decodeJwt(a.token)
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' })
    expect(typeof header.kid).toBe('string')
    expect(claims.aud).toEqual('cfp-control')
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(900)
    expect(claims).toMatchObject({ tid: w.nodes.T1!.id, region: 'eu', sub: a.userId })
    expect(claims.rb).toEqual([{ role: 'project_admin', scope: w.nodes.A1!.path }])
  })

  it('expire after at most 15 minutes', async () => {
    const t = await h.login(w.byName('t_admin').userId, w.nodes.T1!.id)
    expect((await me(t.access)).status).toBe(200)
    clock.advance(901_000)
    const res = await me(t.access)
    expect(res.status).toBe(401)
    expect(res.json.error.code).toBe('unauthenticated')
  })
})

describe('runtime tokens (disjoint audiences)', () => {
  const exchange = (token: string, body: object = {}) => h.request('POST', '/v1/tokens/runtime', { token, body })
  const grant = (token: string, userId: string) =>
    h.request('POST', '/v1/rolebindings', { token, body: { userId, role: 'system_admin', scope: { kind: 'system' } } })

  it('are obtained by exchange: audience cfp-runtime only, same user, session, tenant and bindings, ≤ 5 min', async () => {
    const t = await h.login(w.byName('p_admin').userId, w.nodes.T1!.id)
    const res = await exchange(t.access)
    expect(res.status).toBe(200)
    const cp = decodeJwt(t.access)
    const rt = decodeJwt(res.json.access_token)
    expect(rt.aud).toBe('cfp-runtime')
    expect(rt).toMatchObject({ sub: cp.sub, sid: cp.sid, tid: cp.tid, region: cp.region, rb: cp.rb, iss: cp.iss })
    expect(rt.jti).not.toBe(cp.jti)
    expect(rt.exp! - rt.iat!).toBeLessThanOrEqual(300)
    expect(rt.exp!).toBeLessThanOrEqual(cp.exp!)
    expect(res.json).toMatchObject({ token_type: 'Bearer', region: 'eu', tenant_id: w.nodes.T1!.id })
    // a runtime token is not exchanged again, and a tenant token cannot move to another region
    expect((await exchange(res.json.access_token)).status).toBe(401)
    expect((await exchange(t.access, { region: 'us' })).status).toBe(400)
  })

  it('ATTACK: a runtime token (what a step could harvest) is refused by the control plane: 401 on POST /v1/rolebindings', async () => {
    const sys = await h.login(w.byName('sys').userId)
    const victim = w.byName('p_editor').userId
    const rt = (await exchange(sys.access)).json.access_token as string
    const refused = await grant(rt, victim)
    expect(refused.status).toBe(401)
    expect(refused.json.error.code).toBe('unauthenticated')
    expect((await me(rt)).status).toBe(401)
    // the token shape runtimes accepted before (both audiences, validly signed) is refused as well
    const cp = decodeJwt(sys.access)
    const { kid, key } = await h.s.keys.signer()
    const both = await new SignJWT({ sid: cp.sid, region: cp.region, rb: cp.rb })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(cp.iss!)
      .setAudience(['cfp-control', 'cfp-runtime'])
      .setSubject(cp.sub!)
      .setJti('harvested-1')
      .setIssuedAt(cp.iat!)
      .setExpirationTime(cp.exp!)
      .sign(key)
    expect((await grant(both, victim)).status).toBe(401)
    expect(await h.sql("SELECT 1 FROM role_bindings WHERE user_id = $1 AND role = 'system_admin'", [victim])).toHaveLength(0)
    // the control-plane token itself still works there
    expect((await me(sys.access)).status).toBe(200)
  })

  it('follow the session: logout ends them too (same sid on the revocation feed); RFC 7009 revokes one', async () => {
    const t = await h.login(w.byName('t_viewer').userId, w.nodes.T1!.id)
    const rt = (await exchange(t.access)).json.access_token as string
    expect(decodeJwt(rt).sid).toBe(decodeJwt(t.access).sid)
    expect((await h.request('POST', '/v1/auth/revoke', { body: { token: rt } })).status).toBe(200)
    const feed = await h.request('GET', '/v1/service/revocations?since=0', { token: SERVICE_TOKEN })
    expect(feed.json.items).toContainEqual(expect.objectContaining({ kind: 'token', subject: decodeJwt(rt).jti }))
  })

  it('a system-wide session gets one for another region; API keys cannot exchange', async () => {
    const sys = await h.login(w.byName('sys').userId)
    const us = await exchange(sys.access, { region: 'us' })
    expect(us.status).toBe(200)
    expect(decodeJwt(us.json.access_token).region).toBe('us')
    expect((await exchange(sys.access, { region: 'mars' })).status).toBe(400)
    const key = await h.request('POST', `/v1/projects/${w.nodes.A1!.id}/api-keys`, { token: sys.access, body: { name: 'x', role: 'project_viewer' } })
    if (key.status === 201) expect((await exchange(key.json.token)).status).toBe(403)
  })
})

describe('refresh tokens', () => {
  it('rotate on every use; reusing a spent one revokes the whole family', async () => {
    const t = await h.login(w.byName('t_viewer').userId, w.nodes.T1!.id)
    const r1 = await refresh(t.refresh)
    expect(r1.status).toBe(200)
    expect(r1.json.refresh_token).not.toBe(t.refresh)
    const r2 = await refresh(r1.json.refresh_token)
    expect(r2.status).toBe(200)
    expect((await me(r2.json.access_token)).status).toBe(200)

    const reuse = await refresh(t.refresh)
    expect(reuse.status).toBe(400)
    expect(reuse.json.error.code).toBe('invalid_grant')
    expect((await refresh(r2.json.refresh_token)).status).toBe(400)
    expect((await me(r2.json.access_token)).status).toBe(401)
    expect((await me(t.access)).status).toBe(401)

    const sid = decodeJwt(t.access).sid
    const feed = await h.request('GET', '/v1/service/revocations?since=0', { token: SERVICE_TOKEN })
    expect(feed.json.items).toContainEqual(expect.objectContaining({ kind: 'session', subject: sid, reason: 'refresh_token_reuse' }))
  })

  it('can switch tenant only to one the user belongs to', async () => {
    const t = await h.login(w.byName('t_admin').userId, w.nodes.T1!.id)
    const other = await refresh(t.refresh, { tenant_id: w.nodes.T2!.id })
    expect(other.status).toBe(400)
    expect(other.json.error.code).toBe('invalid_request')
  })
})

describe('logout and revocation', () => {
  it('logout ends the session: its access and refresh tokens stop working', async () => {
    const t = await h.login(w.byName('p_editor').userId, w.nodes.T1!.id)
    expect((await h.request('POST', '/v1/auth/logout', { token: t.access })).status).toBe(200)
    expect((await me(t.access)).status).toBe(401)
    expect((await refresh(t.refresh)).status).toBe(400)
  })

  it('RFC 7009: revoking an access token kills that token only; unknown tokens still get 200', async () => {
    const t = await h.login(w.byName('p_viewer').userId, w.nodes.T1!.id)
    const second = await refresh(t.refresh)
    expect((await h.request('POST', '/v1/auth/revoke', { body: { token: t.access, token_type_hint: 'access_token' } })).status).toBe(200)
    expect((await me(t.access)).status).toBe(401)
    expect((await me(second.json.access_token)).status).toBe(200)
    expect((await h.request('POST', '/v1/auth/revoke', { body: { token: 'garbage' } })).status).toBe(200)
    const form = await h.request('POST', '/v1/auth/revoke', {
      body: `token=${second.json.refresh_token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(form.status).toBe(200)
    expect((await me(second.json.access_token)).status).toBe(401)
  })

  it('removing a role binding revokes older tokens; a refreshed token carries the new bindings', async () => {
    const [u] = await h.sql("INSERT INTO users (email) VALUES ('rb@example.test') RETURNING id")
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [w.nodes.T1!.id, u.id])
    const [b] = await h.sql(
      "INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id, team_id, project_id) VALUES ($1, 'project_viewer', 'project', $2, $3, $4) RETURNING id",
      [u.id, w.nodes.A1!.path.tenant, w.nodes.A1!.path.team, w.nodes.A1!.id],
    )
    const t = await h.login(u.id, w.nodes.T1!.id)
    expect((await h.request('GET', `/v1/projects/${w.nodes.A1!.id}`, { token: t.access })).status).toBe(200)
    const admin = await h.login(w.byName('t_admin').userId, w.nodes.T1!.id)
    const del = await h.request('DELETE', `/v1/rolebindings/${b.id}`, { token: admin.access })
    expect(del.status).toBe(204)
    expect((await me(t.access)).status).toBe(401)
    const next = await refresh(t.refresh)
    expect(next.status).toBe(200)
    expect(decodeJwt(next.json.access_token).rb).toEqual([])
    expect((await h.request('GET', `/v1/projects/${w.nodes.A1!.id}`, { token: next.json.access_token })).status).toBe(404)
  })
})

describe('revocation feed for runtimes', () => {
  it('needs the service token', async () => {
    expect((await h.request('GET', '/v1/service/revocations')).status).toBe(401)
    expect((await h.request('GET', '/v1/service/revocations', { token: 'wrong-token-wrong-token' })).status).toBe(401)
    expect((await h.request('GET', '/v1/service/revocations', { token: w.byName('sys').token })).status).toBe(401)
  })

  it('pages by version and long-polls until a revocation arrives', async () => {
    const start = await h.request('GET', '/v1/service/revocations?since=0', { token: SERVICE_TOKEN })
    const version = start.json.version
    expect((await h.request('GET', `/v1/service/revocations?since=${version}`, { token: SERVICE_TOKEN })).json.items).toEqual([])
    const t = await h.login(w.byName('support_t').userId, w.nodes.T1!.id)
    const began = Date.now()
    const waiting = h.request('GET', `/v1/service/revocations?since=${version}&wait=10`, { token: SERVICE_TOKEN })
    setTimeout(() => void h.request('POST', '/v1/auth/logout', { token: t.access }), 300)
    const res = await waiting
    expect(Date.now() - began).toBeLessThan(5_000)
    expect(res.json.items).toEqual([expect.objectContaining({ kind: 'session', subject: decodeJwt(t.access).sid })])
    expect(res.json.version).toBeGreaterThan(version)
  })
})

const jwks = async () => (await h.request('GET', '/.well-known/jwks.json')).json.keys.map((k: { kid: string }) => k.kid)

describe('JWKS rotation', () => {
  it('publishes old and new keys together; old tokens keep verifying until they expire', async () => {
    const before = await h.login(w.byName('team_admin').userId, w.nodes.T1!.id)
    const oldKid = decodeProtectedHeader(before.access).kid
    const rot = await h.request('POST', '/v1/system/keys/rotate', { token: (await h.login(w.byName('sys').userId)).access, body: { prepublishSeconds: 300 } })
    expect(rot.status).toBe(200)
    expect(await jwks()).toEqual(expect.arrayContaining([oldKid, rot.json.kid]))
    const during = await h.login(w.byName('team_admin').userId, w.nodes.T1!.id)
    expect(decodeProtectedHeader(during.access).kid).toBe(oldKid)

    clock.advance(301_000)
    const after = await h.login(w.byName('team_admin').userId, w.nodes.T1!.id)
    expect(decodeProtectedHeader(after.access).kid).toBe(rot.json.kid)
    expect(await jwks()).toEqual(expect.arrayContaining([oldKid, rot.json.kid]))
    expect((await me(during.access)).status).toBe(200)
    expect((await me(after.access)).status).toBe(200)

    clock.advance(961_000)
    expect(await jwks()).toEqual([rot.json.kid])
    expect((await me(during.access)).status).toBe(401)
  })

  it('rotates on schedule from the maintenance loop', async () => {
    const before = await jwks()
    await maintenance(h.s)
    expect(await jwks()).toEqual(before)
    clock.advance(8 * 86_400_000)
    await maintenance(h.s)
    const after = await jwks()
    expect(after).toHaveLength(2)
    expect(after).toEqual(expect.arrayContaining(before))
  })
})
