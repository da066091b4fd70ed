/** A project's end-user OIDC provider (`PUT /v1/projects/{id}/auth`): validation, authorization, versioning, the runtime feed. */
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

const oidc = { issuer: 'https://acme.eu.auth0.com/', audience: 'https://api.acme.example', jwksUrl: 'https://acme.eu.auth0.com/.well-known/jwks.json' }

describe('project auth (end-user OIDC)', () => {
  const pa = () => w.byName('p_admin').token
  const url = () => `/v1/projects/${w.nodes.A1!.id}/auth`

  it('is stored, returned in the settings with a new version, synced to runtimes, and removed with null', async () => {
    const before = await h.request('GET', `/v1/projects/${w.nodes.A1!.id}/settings`, { token: pa() })
    expect(before.json.auth).toEqual({ oidc: null })
    const feed = await h.request('GET', '/v1/service/projects?region=eu', { token: SERVICE_TOKEN })
    expect(feed.json.items.every((i: { auth: unknown }) => JSON.stringify(i.auth) === '{"oidc":null}')).toBe(true)

    const set = await h.request('PUT', url(), { token: pa(), body: { oidc } })
    expect(set.status).toBe(200)
    expect(set.json.auth).toEqual({ oidc })
    expect(set.json.version).toBeGreaterThan(before.json.version)
    expect((await h.request('GET', `/v1/projects/${w.nodes.A1!.id}/settings`, { token: pa() })).json.auth).toEqual({ oidc })

    const changed = await h.request('GET', `/v1/service/projects?region=eu&since=${feed.json.version}`, { token: SERVICE_TOKEN })
    expect(changed.json.items).toEqual([expect.objectContaining({ projectId: w.nodes.A1!.id, auth: { oidc } })])

    const removed = await h.request('PUT', url(), { token: pa(), body: { oidc: null } })
    expect(removed.status).toBe(200)
    expect(removed.json.auth).toEqual({ oidc: null })
    const again = await h.request('GET', `/v1/service/projects?region=eu&since=${changed.json.version}`, { token: SERVICE_TOKEN })
    expect(again.json.items).toEqual([expect.objectContaining({ projectId: w.nodes.A1!.id, auth: { oidc: null } })])
  })

  it('refuses bad input with 400 naming the field and writes nothing', async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /oidc/],
      [{ oidc: 'https://idp.example' }, /oidc/],
      [{ oidc: '' }, /oidc/],
      [{ oidc: false }, /oidc/],
      [{ oidc: [] }, /oidc/],
      [{ oidc: { ...oidc, audience: '' } }, /audience/],
      [{ oidc: { ...oidc, audience: '   ' } }, /oidc\.audience/],
      [{ oidc: { issuer: oidc.issuer, audience: 'a' } }, /jwksUrl/],
      [{ oidc: { ...oidc, extra: 1 } }, /additional/],
      [{ oidc: { ...oidc, issuer: 'http://idp.example.com' } }, /oidc\.issuer.*https/],
      [{ oidc: { ...oidc, jwksUrl: 'http://idp.example.com/jwks' } }, /oidc\.jwksUrl.*https/],
      [{ oidc: { ...oidc, jwksUrl: 'file:///etc/passwd' } }, /oidc\.jwksUrl/],
      [{ oidc: { ...oidc, issuer: 'not a url' } }, /oidc\.issuer/],
      [{ oidc: { ...oidc, jwksUrl: 'https://u:p@idp.example.com/jwks' } }, /oidc\.jwksUrl/],
      [{ oidc: { ...oidc, issuer: 'x'.repeat(501) } }, /issuer/],
      [{ oidc, more: true }, /additional/],
    ]
    const version = (await h.request('GET', `/v1/projects/${w.nodes.A2!.id}/settings`, { token: w.byName('team_admin').token })).json.version
    for (const [body, message] of cases) {
      const res = await h.request('PUT', `/v1/projects/${w.nodes.A2!.id}/auth`, { token: w.byName('team_admin').token, body })
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.json.error.code).toBe('invalid_request')
      expect(res.json.error.message, JSON.stringify(body)).toMatch(message)
    }
    const after = await h.request('GET', `/v1/projects/${w.nodes.A2!.id}/settings`, { token: w.byName('team_admin').token })
    expect(after.json).toMatchObject({ version, auth: { oidc: null } })
  })

  it('accepts plain http on loopback only with --allow-loopback-idp', async () => {
    const local = { issuer: 'http://127.0.0.1:8080/realms/dev', audience: 'dev', jwksUrl: 'http://localhost:8080/realms/dev/certs' }
    expect((await h.request('PUT', url(), { token: pa(), body: { oidc: local } })).json.auth).toEqual({ oidc: local })
    h.s.options.allowLoopbackIdp = false
    try {
      const res = await h.request('PUT', url(), { token: pa(), body: { oidc: local } })
      expect(res.status).toBe(400)
      expect(res.json.error.message).toMatch(/oidc\.issuer.*loopback/)
    } finally {
      h.s.options.allowLoopbackIdp = true
    }
  })

  it('needs project.update: editors and viewers are refused (403), other branches see nothing', async () => {
    expect((await h.request('PUT', url(), { token: w.byName('p_viewer').token, body: { oidc } })).status).toBe(403)
    expect((await h.request('PUT', url(), { token: w.byName('p_editor').token, body: { oidc } })).status).toBe(403)
    expect((await h.request('PUT', url(), { token: w.byName('t_viewer').token, body: { oidc } })).status).toBe(403)
    const other = await h.request('PUT', `/v1/projects/${w.nodes.B1!.id}/auth`, { token: pa(), body: { oidc } })
    expect(other.status).toBe(404)
    expect((await h.request('PUT', url(), { body: { oidc } })).status).toBe(401)
  })
})
