/** Regressions found by the API fuzz suite (tests/api-fuzz): each request here used to answer 500. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findNul } from './input-guard.js'
import { createHarness, SERVICE_TOKEN, type Harness } from './test-support/harness.js'
import { seedWorld, type World } from './test-support/world.js'

let h: Harness
let w: World

beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
})
afterAll(async () => h?.close())

const refused = (message: RegExp) => ({ error: { code: 'invalid_request', message: expect.stringMatching(message) } })

describe('NUL characters (PostgreSQL text and jsonb cannot store them)', () => {
  it('are found at their path, keys included', () => {
    expect(findNul({ a: ['x', { b: 'y\u0000' }] })).toBe('/a/1/b')
    expect(findNul({ 'k\u0000': 1 })).toBe('/k\\u0000')
    expect(findNul('\u0000')).toBe('/')
    expect(findNul({ a: 'fine', n: 1, z: null })).toBeUndefined()
  })

  it('in a body are a 400 naming the field, and nothing is written', async () => {
    const sys = w.byName('sys').token
    const tenant = w.nodes.T1!.id!
    const team = await h.request('POST', `/v1/tenants/${tenant}/teams`, { token: sys, body: { slug: 'nul-team', name: 'a\u0000b' } })
    expect(team.status).toBe(400)
    expect(team.json).toEqual(refused(/^body\/name must not contain NUL/))
    expect(await h.sql("SELECT 1 FROM teams WHERE slug = 'nul-team'")).toEqual([])

    const idp = await h.request('POST', `/v1/tenants/${tenant}/idps`, {
      token: sys,
      body: { kind: 'oidc', name: 'nul-idp', clientSecret: 's', oidc: { issuer: 'https://idp.example.test', clientId: '\u0000' } },
    })
    expect(idp.status).toBe(400)
    expect(idp.json).toEqual(refused(/^body\/oidc\/clientId /))
    expect(await h.sql("SELECT 1 FROM identity_providers WHERE name = 'nul-idp'")).toEqual([])
  })

  it('are refused on public routes and in the query too', async () => {
    const login = await h.request('POST', '/v1/auth/login', { body: { email: '\u0000', password: 'x' } })
    expect(login.status).toBe(400)
    expect(login.json).toEqual(refused(/^body\/email /))
    const setup = await h.request('GET', '/v1/setup?token=%00')
    expect(setup.status).toBe(400)
    expect(setup.json).toEqual(refused(/^querystring\/token /))
  })
})

describe('version cursors of the service API', () => {
  const service = { authorization: `Bearer ${SERVICE_TOKEN}` }

  it('beyond the exact integer range are a 400, not a bigint error', async () => {
    for (const url of ['/v1/service/revocations?since=95539242964376706449670144', '/v1/service/projects?region=eu&since=1e25']) {
      const res = await h.request('GET', url, { headers: service })
      expect(res.status, url).toBe(400)
      expect(res.json, url).toEqual(refused(/since/))
    }
    const max = await h.request('GET', `/v1/service/revocations?since=${Number.MAX_SAFE_INTEGER}`, { headers: service })
    expect(max.status).toBe(200)
  })
})

describe('OpenAPI', () => {
  it('describes the OIDC callback query as named string parameters (schemathesis could not generate it)', async () => {
    const doc = (await h.request('GET', '/openapi.json')).json
    const params = doc.paths['/v1/auth/oidc/{idpId}/callback'].get.parameters as { name: string; in: string; schema: unknown }[]
    const query = params.filter((p) => p.in === 'query')
    expect(query.map((p) => p.name)).toEqual(expect.arrayContaining(['code', 'state']))
    for (const p of query) expect(p.schema, p.name).toEqual({ type: 'string' })
  })

  it('documents errors as JSON on routes whose success is HTML or XML (content_type_conformance)', async () => {
    const doc = (await h.request('GET', '/openapi.json')).json
    for (const path of ['/v1/setup', '/v1/auth/saml/{idpId}/metadata']) {
      expect(Object.keys(doc.paths[path].get.responses['4XX'].content), path).toEqual(['application/json'])
    }
    const res = await h.request('GET', '/v1/setup')
    expect(res.status).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.json).toEqual(refused(/token/))
  })
})
