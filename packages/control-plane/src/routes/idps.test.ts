/**
 * Identity providers over HTTP: read one, change (name, enabled, merged configuration, re-sealed secret),
 * delete (mappings and links go, provisioned users and their bindings stay), and every refusal — unknown or
 * invisible ids are 404 with one body, a missing right 403, nothing written on refusal. A disabled provider
 * refuses its SSO routes and is not offered on login pages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'
import { SECRET_PURPOSE } from './idps.js'

let h: Harness
let w: World
let admin: string
let T1: string

beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
  admin = w.byName('t_admin').token
  T1 = w.nodes.T1!.id!
})
afterAll(async () => h?.close())

let n = 0
const oidcBody = (over: Record<string, unknown> = {}) => ({
  kind: 'oidc',
  name: `oidc-${++n}`,
  clientSecret: 'first-secret',
  oidc: { issuer: 'https://idp.example.test', clientId: 'cfp', scopes: ['groups'], groupsClaim: 'roles' },
  ...over,
})
const samlBody = () => ({
  kind: 'saml',
  name: `saml-${++n}`,
  saml: { ssoUrl: 'https://idp.example.test/sso', idpEntityId: 'https://idp.example.test', idpCertificate: 'PEM' },
})

async function create(body: Record<string, unknown>, tenant = T1, token = admin) {
  const res = await h.request('POST', `/v1/tenants/${tenant}/idps`, { token, body })
  expect(res.status, res.body).toBe(201)
  return res.json as { id: string; name: string; callbackUrl: string; loginUrl: string }
}

const row = async (id: string) => (await h.sql('SELECT * FROM identity_providers WHERE id = $1', [id]))[0]

describe('GET /v1/idps/{idpId}', () => {
  it('reads one provider with its mappings, never its secret', async () => {
    const p = await create(oidcBody())
    await h.request('PUT', `/v1/idps/${p.id}/group-mappings`, {
      token: admin,
      body: { mappings: [{ group: 'eng', role: 'project_viewer', projectId: w.nodes.A1!.id }] },
    })
    const res = await h.request('GET', `/v1/idps/${p.id}`, { token: w.byName('auditor_t').token })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({
      id: p.id,
      tenantId: T1,
      kind: 'oidc',
      enabled: true,
      hasClientSecret: true,
      config: { issuer: 'https://idp.example.test', clientId: 'cfp' },
      loginUrl: expect.stringMatching(new RegExp(`/v1/auth/oidc/${p.id}/login$`)),
      callbackUrl: expect.stringMatching(new RegExp(`/v1/auth/oidc/${p.id}/callback$`)),
      mappings: [{ group: 'eng', role: 'project_viewer', teamId: w.nodes.A!.id, projectId: w.nodes.A1!.id }],
    })
    expect(res.body).not.toContain('first-secret')
    expect(res.body).not.toContain('secret_enc')
  })
})

describe('PATCH /v1/idps/{idpId}', () => {
  it('renames, disables and merges configuration fields; null resets an optional one', async () => {
    const p = await create(oidcBody())
    const res = await h.request('PATCH', `/v1/idps/${p.id}`, {
      token: admin,
      body: { name: 'Renamed', enabled: false, oidc: { clientId: 'cfp-2', groupsClaim: null } },
    })
    expect(res.status, res.body).toBe(200)
    expect(res.json).toMatchObject({ name: 'Renamed', enabled: false, mappings: [] })
    expect(res.json.config).toEqual({ issuer: 'https://idp.example.test', clientId: 'cfp-2', scopes: ['groups'] })
    expect(await row(p.id)).toMatchObject({ name: 'Renamed', enabled: false })
    const again = await h.request('PATCH', `/v1/idps/${p.id}`, { token: admin, body: { enabled: true } })
    expect(again.json).toMatchObject({ name: 'Renamed', enabled: true, config: { clientId: 'cfp-2' } })
  })

  it('re-seals a new client secret and never returns it', async () => {
    const p = await create(oidcBody())
    const before = (await row(p.id)).secret_enc
    const res = await h.request('PATCH', `/v1/idps/${p.id}`, { token: admin, body: { clientSecret: 'second-secret' } })
    expect(res.status).toBe(200)
    expect(res.body).not.toContain('second-secret')
    const after = (await row(p.id)).secret_enc
    expect(after).not.toBe(before)
    expect(after).not.toContain('second-secret')
    expect(h.s.sealer.open(after, SECRET_PURPOSE)).toBe('second-secret')
    // leaving it out keeps it
    await h.request('PATCH', `/v1/idps/${p.id}`, { token: admin, body: { name: `kept-${n}` } })
    expect((await row(p.id)).secret_enc).toBe(after)
  })

  it('changes a SAML provider through saml fields only', async () => {
    const p = await create(samlBody())
    const ok = await h.request('PATCH', `/v1/idps/${p.id}`, {
      token: admin,
      body: { saml: { ssoUrl: 'https://idp2.example.test/sso', groupsAttribute: 'memberOf' } },
    })
    expect(ok.status).toBe(200)
    expect(ok.json.config).toMatchObject({ ssoUrl: 'https://idp2.example.test/sso', idpEntityId: 'https://idp.example.test', groupsAttribute: 'memberOf' })
    expect(ok.json.hasClientSecret).toBe(false)
    for (const [body, message] of [
      [{ oidc: { clientId: 'x' } }, /^oidc: this provider is SAML/],
      [{ clientSecret: 's' }, /^clientSecret: only OIDC/],
      [{ saml: { idpCertificate: null } }, /saml\/idpCertificate/],
      [{ saml: { ssoUrl: 'not a url' } }, /saml\/ssoUrl/],
      [{ saml: { extra: 1 } }, /additional properties/],
      [{ kind: 'oidc' }, /additional properties/],
      [{ name: 'a\u0000b' }, /^body\/name must not contain NUL/],
    ] as const) {
      const res = await h.request('PATCH', `/v1/idps/${p.id}`, { token: admin, body })
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.json.error, JSON.stringify(body)).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(message) })
    }
  })

  it('SAML signRequests: on for new providers unless the body says false, switchable, null restores the default; sloUrl is optional', async () => {
    const on = await create(samlBody())
    expect((await h.request('GET', `/v1/idps/${on.id}`, { token: admin })).json.config.signRequests).toBe(true)
    const offBody = samlBody()
    const off = await create({ ...offBody, saml: { ...offBody.saml, signRequests: false, sloUrl: 'https://idp.example.test/slo' } })
    expect((await row(off.id)).config).toMatchObject({ signRequests: false, sloUrl: 'https://idp.example.test/slo' })
    const patched = await h.request('PATCH', `/v1/idps/${off.id}`, { token: admin, body: { saml: { signRequests: true, sloUrl: null } } })
    expect(patched.status, patched.body).toBe(200)
    expect(patched.json.config.signRequests).toBe(true)
    expect(patched.json.config).not.toHaveProperty('sloUrl')
    await h.request('PATCH', `/v1/idps/${off.id}`, { token: admin, body: { saml: { signRequests: false } } })
    const reset = await h.request('PATCH', `/v1/idps/${off.id}`, { token: admin, body: { saml: { signRequests: null } } })
    expect(reset.json.config.signRequests).toBe(true)
    const bad = await h.request('PATCH', `/v1/idps/${off.id}`, { token: admin, body: { saml: { sloUrl: 'not a url' } } })
    expect(bad.status).toBe(400)
    expect(bad.json.error.message).toMatch(/saml\/sloUrl/)
  })

  it('refuses an empty client secret and a duplicate name (409), writing nothing', async () => {
    const a = await create(oidcBody())
    const b = await create(oidcBody())
    const before = await row(b.id)
    const dup = await h.request('PATCH', `/v1/idps/${b.id}`, { token: admin, body: { name: a.name, enabled: false, oidc: { clientId: 'changed' } } })
    expect(dup.status).toBe(409)
    expect(dup.json.error.code).toBe('conflict')
    const empty = await h.request('PATCH', `/v1/idps/${b.id}`, { token: admin, body: { clientSecret: '', enabled: false } })
    expect(empty.status).toBe(400)
    expect(await row(b.id)).toEqual(before)
  })

  it('unlinks the external identities when the issuer changes (users are linked again by e-mail)', async () => {
    const p = await create(oidcBody())
    const [u] = await h.sql("INSERT INTO users (email) VALUES ('linked@corp.example') RETURNING id")
    await h.sql("INSERT INTO external_identities (provider_id, subject, user_id, last_login_at) VALUES ($1, 'sub-1', $2, now())", [p.id, u.id])
    await h.request('PATCH', `/v1/idps/${p.id}`, { token: admin, body: { oidc: { clientId: 'other' } } })
    expect(await h.sql('SELECT 1 FROM external_identities WHERE provider_id = $1', [p.id])).toHaveLength(1)
    await h.request('PATCH', `/v1/idps/${p.id}`, { token: admin, body: { oidc: { issuer: 'https://other-idp.example.test' } } })
    expect(await h.sql('SELECT 1 FROM external_identities WHERE provider_id = $1', [p.id])).toEqual([])
    expect(await h.sql('SELECT 1 FROM users WHERE id = $1', [u.id])).toHaveLength(1)
  })
})

describe('DELETE /v1/idps/{idpId}', () => {
  it('removes the provider, its mappings and links; provisioned users keep accounts, memberships and bindings', async () => {
    const p = await create(samlBody())
    await h.request('PUT', `/v1/idps/${p.id}/group-mappings`, { token: admin, body: { mappings: [{ group: 'ops', role: 'tenant_viewer' }] } })
    const [u] = await h.sql("INSERT INTO users (email) VALUES ('provisioned@corp.example') RETURNING id")
    await h.sql("INSERT INTO external_identities (provider_id, subject, user_id, last_login_at) VALUES ($1, 'sub-p', $2, now())", [p.id, u.id])
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [T1, u.id])
    await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id, source) VALUES ($1, 'tenant_viewer', 'tenant', $2, $3)", [
      u.id,
      T1,
      `idp:${p.id}`,
    ])

    const res = await h.request('DELETE', `/v1/idps/${p.id}`, { token: admin })
    expect(res.status).toBe(204)
    expect(res.body).toBe('')
    expect(await h.sql('SELECT 1 FROM identity_providers WHERE id = $1', [p.id])).toEqual([])
    expect(await h.sql('SELECT 1 FROM group_mappings WHERE provider_id = $1', [p.id])).toEqual([])
    expect(await h.sql('SELECT 1 FROM external_identities WHERE provider_id = $1', [p.id])).toEqual([])
    expect(await h.sql('SELECT 1 FROM users WHERE id = $1', [u.id])).toHaveLength(1)
    expect(await h.sql('SELECT 1 FROM memberships WHERE user_id = $1', [u.id])).toHaveLength(1)
    expect(await h.sql('SELECT role FROM role_bindings WHERE user_id = $1', [u.id])).toEqual([{ role: 'tenant_viewer' }])

    expect((await h.request('GET', `/v1/idps/${p.id}`, { token: admin })).status).toBe(404)
    expect((await h.request('DELETE', `/v1/idps/${p.id}`, { token: admin })).status).toBe(404)
    const list = await h.request('GET', `/v1/tenants/${T1}/idps`, { token: admin })
    expect(list.json.items.map((i: { id: string }) => i.id)).not.toContain(p.id)
  })
})

describe('refusals', () => {
  it('an unknown id and another tenant’s provider are the same 404; no right is 403; nothing is written', async () => {
    const sys = w.byName('sys').token
    const foreign = await create(samlBody(), w.nodes.T2!.id!, sys)
    const own = await create(samlBody())
    const unknown = '00000000-0000-4000-8000-000000000000'
    const body = { name: 'hijacked', enabled: false }
    for (const [method, withBody] of [
      ['GET', false],
      ['PATCH', true],
      ['DELETE', false],
      ['PUT', true],
    ] as const) {
      const path = (id: string) => (method === 'PUT' ? `/v1/idps/${id}/group-mappings` : `/v1/idps/${id}`)
      const payload = method === 'PUT' ? { mappings: [] } : withBody ? body : undefined
      const missing = await h.request(method, path(unknown), { token: admin, body: payload })
      const invisible = await h.request(method, path(foreign.id), { token: admin, body: payload })
      expect(missing.status, method).toBe(404)
      expect(invisible.status, method).toBe(404)
      expect(invisible.json, method).toEqual(missing.json)
      expect(missing.json.error.code).toBe('not_found')
      // a tenant viewer sees the tenant but holds neither idp.read nor idp.manage
      const viewer = await h.request(method, path(own.id), { token: w.byName('t_viewer').token, body: payload })
      expect(viewer.status, method).toBe(403)
      expect(viewer.json.error.code).toBe('forbidden')
      // an auditor reads, and changes nothing
      const auditor = await h.request(method, path(own.id), { token: w.byName('auditor_t').token, body: payload })
      expect(auditor.status, method).toBe(method === 'GET' ? 200 : 403)
    }
    expect(await row(foreign.id)).toMatchObject({ name: foreign.name, enabled: true })
    expect(await row(own.id)).toMatchObject({ name: own.name, enabled: true })
    expect((await h.request('GET', '/v1/idps/not-a-uuid', { token: admin })).status).toBe(400)
    expect((await h.request('GET', `/v1/idps/${own.id}`)).status).toBe(401)
  })
})

describe('a disabled provider', () => {
  it('refuses its SSO routes and is not offered on login pages; enabled again, it is back', async () => {
    const saml = await create(samlBody())
    const oidc = await create(oidcBody())
    const offered = async () => (await h.request('GET', '/v1/auth/providers?tenant=t1-co')).json.items.map((i: { id: string }) => i.id)
    expect(await offered()).toEqual(expect.arrayContaining([saml.id, oidc.id]))
    expect((await h.request('GET', `/v1/auth/saml/${saml.id}/login`)).status).toBe(302)

    for (const p of [saml, oidc]) expect((await h.request('PATCH', `/v1/idps/${p.id}`, { token: admin, body: { enabled: false } })).status).toBe(200)
    expect(await offered()).not.toContain(saml.id)
    expect(await offered()).not.toContain(oidc.id)
    const refused = [
      await h.request('GET', `/v1/auth/saml/${saml.id}/login`),
      await h.request('GET', `/v1/auth/saml/${saml.id}/metadata`),
      await h.request('POST', `/v1/auth/saml/${saml.id}/acs`, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'SAMLResponse=PHg%2B&RelayState=x',
      }),
      await h.request('GET', `/v1/auth/oidc/${oidc.id}/login`),
      await h.request('GET', `/v1/auth/oidc/${oidc.id}/callback?code=c&state=s`),
    ]
    for (const r of refused) {
      expect(r.status, r.body).toBe(404)
      expect(r.json.error.code).toBe('not_found')
    }
    // single logout still listens (sessions opened before must end) and checks what it gets: this is unsigned
    const slo = await h.request('GET', `/v1/auth/saml/${saml.id}/slo?SAMLRequest=eA%3D%3D`)
    expect([slo.status, slo.json.error.code, slo.json.error.details.reason]).toEqual([401, 'slo_failed', 'unsigned'])

    await h.request('PATCH', `/v1/idps/${saml.id}`, { token: admin, body: { enabled: true } })
    expect(await offered()).toContain(saml.id)
    expect((await h.request('GET', `/v1/auth/saml/${saml.id}/login`)).status).toBe(302)
  })
})

describe('OpenAPI', () => {
  it('documents the new operations with the idpId path parameter', async () => {
    const doc = (await h.request('GET', '/openapi.json')).json
    const ops = doc.paths['/v1/idps/{idpId}']
    expect(Object.keys(ops).sort()).toEqual(['delete', 'get', 'patch'])
    for (const op of Object.values(ops) as { parameters: { name: string; in: string }[]; responses: Record<string, unknown> }[]) {
      expect(op.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'idpId', in: 'path' })]))
      expect(op.responses).toHaveProperty('4XX')
    }
    expect(ops.delete.responses).toHaveProperty('204')
  })
})
