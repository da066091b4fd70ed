/** The API contract: OpenAPI from route schemas, authentication everywhere but the public routes, one error shape, all-or-nothing writes. */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World

beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
})
afterAll(async () => h?.close())

const PUBLIC = new Set([
  'GET /health',
  'GET /.well-known/jwks.json',
  // the audit public keys, like the JWKS: what anyone needs to check a checkpoint
  'GET /v1/audit/keys',
  'GET /v1/setup',
  'POST /v1/setup',
  'POST /v1/auth/login',
  'POST /v1/auth/token',
  'POST /v1/auth/revoke',
  'GET /v1/auth/oidc/{idpId}/login',
  'GET /v1/auth/oidc/{idpId}/callback',
  'GET /v1/auth/saml/{idpId}/login',
  'POST /v1/auth/saml/{idpId}/acs',
  'GET /v1/auth/saml/{idpId}/metadata',
  // single logout: messages from the IdP, authenticated by their SAML signatures
  'GET /v1/auth/saml/{idpId}/slo',
  'POST /v1/auth/saml/{idpId}/slo',
  // the login page's SSO buttons: a tenant's identity providers, nothing secret
  'GET /v1/auth/providers',
])

describe('OpenAPI', () => {
  it('is generated from the route schemas and lists every route with responses', async () => {
    const res = await h.request('GET', '/openapi.json')
    expect(res.status).toBe(200)
    expect(res.json.openapi).toBe('3.1.0')
    const ops = Object.entries(res.json.paths as Record<string, Record<string, { responses: object; security?: unknown }>>).flatMap(([path, methods]) =>
      Object.entries(methods).map(([m, op]) => ({ key: `${m.toUpperCase()} ${path}`, op })),
    )
    expect(ops.length).toBeGreaterThan(40)
    for (const { key, op } of ops) {
      expect(Object.keys(op.responses), key).toEqual(expect.arrayContaining(['4XX', '5XX']))
      expect(op.security === undefined, key).toBe(PUBLIC.has(key))
    }
  })
})

describe('authentication', () => {
  it('every route but health, JWKS, OpenAPI and login/setup refuses a request without credentials', async () => {
    const paths = (await h.request('GET', '/openapi.json')).json.paths as Record<string, Record<string, unknown>>
    let checked = 0
    for (const [path, methods] of Object.entries(paths)) {
      for (const method of Object.keys(methods)) {
        const key = `${method.toUpperCase()} ${path}`
        if (PUBLIC.has(key)) continue
        const url = path.replace(/\{[^}]+\}/g, randomUUID()) + (path === '/v1/service/projects' ? '?region=eu' : '')
        const res = await h.request(method.toUpperCase(), url, method === 'get' || method === 'delete' ? {} : { body: {} })
        expect(res.status, key).toBe(401)
        expect(res.json, key).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } })
        checked++
      }
    }
    expect(checked).toBeGreaterThan(30)
  })

  it('public routes answer without credentials', async () => {
    expect((await h.request('GET', '/health')).json).toEqual({ status: 'ok' })
    expect((await h.request('GET', '/.well-known/jwks.json')).json.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })
  })
})

describe('refused requests', () => {
  const admin = () => w.byName('t_admin').token

  it('get one JSON error shape with a stable code and no internals', async () => {
    const cases = [
      await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/teams`, { token: admin(), body: { slug: 'UPPER', name: 'x' } }),
      await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/teams`, { token: admin(), body: { slug: 'ok-team', name: 'x', extra: 1 } }),
      await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/teams`, { token: admin(), body: '{not json', headers: { 'content-type': 'application/json' } }),
      await h.request('GET', '/v1/projects/not-a-uuid', { token: admin() }),
      await h.request('GET', '/v1/nothing-here', { token: admin() }),
    ]
    expect(cases.map((c) => c.status)).toEqual([400, 400, 400, 400, 404])
    for (const c of cases) {
      expect(Object.keys(c.json)).toEqual(['error'])
      expect(c.json.error.code).toMatch(/^[a-z_]+$/)
      expect(c.body).not.toMatch(/stack|node_modules|SELECT|at \w+ \(/)
    }
    expect(cases[1]!.json.error.message).toMatch(/additional/)
  })

  it('leave nothing half-written: an invite whose role grant is refused creates no user and no membership', async () => {
    const email = `half-${randomUUID()}@example.test`
    const res = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/members`, {
      token: admin(),
      body: { email, role: 'system_admin', scope: { kind: 'system' } },
    })
    expect(res.status).toBe(403)
    expect(await h.sql('SELECT 1 FROM users WHERE email = $1', [email])).toEqual([])
    const ok = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/members`, {
      token: admin(),
      body: { email, role: 'project_viewer', scope: { kind: 'project', id: w.nodes.A1!.id } },
    })
    expect(ok.status).toBe(201)
    expect(ok.json.binding).toMatchObject({ role: 'project_viewer', scope: { kind: 'project', projectId: w.nodes.A1!.id } })
  })

  it('conflicts on duplicate slugs', async () => {
    const body = { slug: `dup-${Date.now()}`, name: 'x' }
    expect((await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/teams`, { token: admin(), body })).status).toBe(201)
    const again = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/teams`, { token: admin(), body })
    expect(again.status).toBe(409)
    expect(again.json.error.code).toBe('conflict')
  })
})

describe('settings', () => {
  const pa = () => w.byName('p_admin').token
  const url = (p: string) => `/v1/projects/${w.nodes.A1!.id}/${p}`

  it('refuse * with credentials and anything that is not an origin (FR-5)', async () => {
    const bad = [
      { allowedOrigins: ['*'], allowCredentials: true },
      { allowedOrigins: ['https://a.example/path'], allowCredentials: false },
      { allowedOrigins: ['javascript:alert(1)'], allowCredentials: false },
    ]
    for (const body of bad) expect((await h.request('PUT', url('cors'), { token: pa(), body })).status).toBe(400)
    const ok = await h.request('PUT', url('cors'), { token: pa(), body: { allowedOrigins: ['https://a.example'], allowCredentials: true } })
    expect(ok.json.cors).toEqual({ allowedOrigins: ['https://a.example'], allowCredentials: true })
  })

  it('keep project limits under the tenant ceiling and report effective limits (FR-6)', async () => {
    await h.request('PUT', `/v1/tenants/${w.nodes.T1!.id}/limits`, {
      token: w.byName('t_admin').token,
      body: { maxConcurrentRequests: 50, maxBodyBytes: 1000 },
    })
    expect((await h.request('PUT', url('limits'), { token: pa(), body: { maxConcurrentRequests: 51 } })).status).toBe(400)
    const ok = await h.request('PUT', url('limits'), { token: pa(), body: { maxConcurrentRequests: 20 } })
    expect(ok.status).toBe(200)
    expect(ok.json.effectiveLimits).toEqual({ maxConcurrentRequests: 20, maxBodyBytes: 1000 })
  })

  it('serves runtimes the permission matrix it enforces, the file itself', async () => {
    const { SERVICE_TOKEN } = await import('../test-support/harness.js')
    const { readFileSync } = await import('node:fs')
    const { findPolicyFile } = await import('../policy/load.js')
    const res = await h.request('GET', '/v1/service/policy', { token: SERVICE_TOKEN })
    expect(res.status).toBe(200)
    expect(res.json.policy).toEqual(JSON.parse(readFileSync(findPolicyFile(), 'utf8')))
    expect((await h.request('GET', '/v1/service/policy', { token: w.byName('sys').token })).status).toBe(401)
  })

  it('wake a runtime long-polling for settings or revocations as soon as one changes (NOTIFY), not at the next re-read', async () => {
    const { SERVICE_TOKEN } = await import('../test-support/harness.js')
    const token = SERVICE_TOKEN
    const all = await h.request('GET', '/v1/service/projects?region=eu', { token })
    const settings = h.request('GET', `/v1/service/projects?region=eu&since=${all.json.version}&wait=10`, { token })
    await new Promise((r) => setTimeout(r, 100))
    await h.request('PUT', url('validation'), { token: pa(), body: { strict: false } })
    let changedAt = Date.now()
    const woken = await settings
    expect(woken.json.items).toEqual([expect.objectContaining({ projectId: w.nodes.A1!.id, validation: { strict: false } })])
    // the fallback re-read comes a second after the poll began: ~900 ms after the change
    expect(Date.now() - changedAt).toBeLessThan(600)

    const feed = await h.request('GET', '/v1/service/revocations?since=0', { token })
    const revocations = h.request('GET', `/v1/service/revocations?since=${feed.json.version}&wait=10`, { token })
    await new Promise((r) => setTimeout(r, 100))
    const session = await h.login(w.byName('p_viewer').userId, w.nodes.T1!.id)
    await h.request('POST', '/v1/auth/logout', { token: session.access })
    changedAt = Date.now()
    expect((await revocations).json.items.length).toBeGreaterThan(0)
    expect(Date.now() - changedAt).toBeLessThan(600)
  })

  it('are synced by runtimes per region with a growing version', async () => {
    const { SERVICE_TOKEN } = await import('../test-support/harness.js')
    const all = await h.request('GET', '/v1/service/projects?region=eu', { token: SERVICE_TOKEN })
    expect(all.json.items.map((i: { projectId: string }) => i.projectId)).not.toContain(w.nodes.C1!.id)
    await h.request('PUT', url('validation'), { token: pa(), body: { strict: true } })
    const changed = await h.request('GET', `/v1/service/projects?region=eu&since=${all.json.version}`, { token: SERVICE_TOKEN })
    expect(changed.json.items).toEqual([expect.objectContaining({ projectId: w.nodes.A1!.id, validation: { strict: true } })])
  })
})
