/**
 * OIDC login end to end against a real `oidc-provider` on loopback: authorization code + PKCE S256, state
 * bound to the browser by a cookie, nonce checked, just-in-time provisioning with IdP-group -> role mapping,
 * sessions confined to the provider's tenant, one-time login codes.
 */
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser } from '../test-support/browser.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { TestOidcIdp } from '../test-support/oidc-idp.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
let idpId: string
const idp = new TestOidcIdp()

beforeAll(async () => {
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
  await idp.start()
  const admin = w.byName('t_admin').token
  const created = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/idps`, {
    token: admin,
    body: { kind: 'oidc', name: 'corp', clientSecret: idp.clientSecret, oidc: { issuer: idp.issuer, clientId: idp.clientId, scopes: ['groups'] } },
  })
  expect(created.status).toBe(201)
  idpId = created.json.id
  await idp.configure(created.json.callbackUrl)
  const maps = await h.request('PUT', `/v1/idps/${idpId}/group-mappings`, {
    token: admin,
    body: {
      mappings: [
        { group: 'eng', role: 'project_editor', projectId: w.nodes.A1!.id },
        { group: 'ops', role: 'team_viewer', teamId: w.nodes.A!.id },
      ],
    },
  })
  expect(maps.status).toBe(200)
})
afterAll(async () => {
  await idp.close()
  await h?.close()
})

const loginUrl = (q = '') => `${h.url}/v1/auth/oidc/${idpId}/login${q}`
const isCallback = (u: string) => u.startsWith(`${h.url}/v1/auth/oidc/`)

/** Runs the browser up to (not including) the callback; returns the callback URL. */
async function toCallback(b: Browser, q = ''): Promise<string> {
  const { url } = await b.follow(loginUrl(q), isCallback)
  expect(isCallback(url)).toBe(true)
  return url
}

describe('OIDC login', () => {
  it('sends PKCE S256, state and nonce to the IdP', async () => {
    const res = await new Browser().go(loginUrl())
    expect(res.status).toBe(302)
    const auth = new URL(res.headers.get('location')!)
    expect(auth.origin).toBe(idp.issuer)
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256')
    expect(auth.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(auth.searchParams.get('state')).toBeTruthy()
    expect(auth.searchParams.get('nonce')).toBeTruthy()
    expect(res.headers.get('set-cookie')).toMatch(/cfp_sso=.+HttpOnly/)
  })

  it('provisions the user just in time with roles from IdP groups, confined to the tenant', async () => {
    idp.nextAccount = { sub: 'alice-1', email: 'alice@corp.example', name: 'Alice', groups: ['eng', 'ops', 'unmapped'] }
    const b = new Browser()
    const res = await b.go(await toCallback(b))
    expect(res.status).toBe(200)
    const tokens = (await res.json()) as { access_token: string; refresh_token: string; tenant_id: string }
    expect(tokens.tenant_id).toBe(w.nodes.T1!.id)
    const claims = decodeJwt(tokens.access_token)
    expect(claims).toMatchObject({ tid: w.nodes.T1!.id, region: 'eu' })
    expect(claims.rb).toEqual(
      expect.arrayContaining([
        { role: 'project_editor', scope: w.nodes.A1!.path },
        { role: 'team_viewer', scope: w.nodes.A!.path },
      ]),
    )
    expect((await h.request('GET', `/v1/projects/${w.nodes.A1!.id}`, { token: tokens.access_token })).status).toBe(200)
    const [user] = await h.sql("SELECT id, display_name FROM users WHERE email = 'alice@corp.example'")
    expect(user.display_name).toBe('Alice')
    const other = await h.request('POST', '/v1/auth/token', {
      body: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, tenant_id: w.nodes.T2!.id },
    })
    expect(other.status).toBe(400)

    idp.nextAccount = { ...idp.nextAccount, groups: ['ops'] }
    const b2 = new Browser()
    const again = (await (await b2.go(await toCallback(b2))).json()) as { access_token: string }
    expect(decodeJwt(again.access_token).rb).toEqual([{ role: 'team_viewer', scope: w.nodes.A!.path }])
    expect(await h.sql('SELECT count(*)::int AS n FROM users WHERE email = $1', ['alice@corp.example'])).toEqual([{ n: 1 }])
  })

  it('refuses a callback replayed, without the browser cookie, or with a wrong state', async () => {
    idp.nextAccount = { sub: 'bob', email: 'bob@corp.example', groups: [] }
    const b = new Browser()
    const cb = await toCallback(b)
    const stolen = new Browser()
    const noCookie = await stolen.go(cb)
    expect(noCookie.status).toBe(401)
    expect(((await noCookie.json()) as { error: { code: string } }).error.code).toBe('sso_failed')

    const b2 = new Browser()
    const cb2 = await toCallback(b2)
    const tampered = new URL(cb2)
    tampered.searchParams.set('state', 'forged-state')
    expect((await b2.go(tampered.href)).status).toBe(401)

    const b3 = new Browser()
    const cb3 = await toCallback(b3)
    expect((await b3.go(cb3)).status).toBe(200)
    expect((await b3.go(cb3)).status).toBe(401)
  })

  it('checks the nonce and the PKCE verifier', async () => {
    idp.nextAccount = { sub: 'carol', email: 'carol@corp.example', groups: [] }
    for (const column of ['nonce', 'code_verifier']) {
      const b = new Browser()
      const cb = await toCallback(b)
      await h.sql(`UPDATE login_states SET ${column} = $1`, [column === 'nonce' ? 'other-nonce' : 'x'.repeat(43)])
      const res = await b.go(cb)
      expect(res.status, column).toBe(401)
    }
    expect(await h.sql("SELECT 1 FROM users WHERE email = 'carol@corp.example'")).toEqual([])
  })

  it('hands the login to return_to as a one-time code, and refuses open redirects', async () => {
    idp.nextAccount = { sub: 'dave', email: 'dave@corp.example', groups: ['eng'] }
    expect((await new Browser().go(loginUrl('?return_to=https://evil.example/'))).status).toBe(400)
    const b = new Browser()
    const res = await b.go(await toCallback(b, '?return_to=/app/home'))
    expect(res.status).toBe(302)
    const to = new URL(res.headers.get('location')!, h.url)
    expect(to.pathname).toBe('/app/home')
    const code = to.searchParams.get('code')!
    // redeemed by the browser that logged in: the code is bound to its cookie (sso-link.test.ts tries without)
    const exchange = async () => {
      const res = await b.go(`${h.url}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'login_code', code }),
      })
      return { status: res.status, json: (await res.json()) as { access_token: string; error: { code: string } } }
    }
    const first = await exchange()
    expect(first.status).toBe(200)
    expect(decodeJwt(first.json.access_token).tid).toBe(w.nodes.T1!.id)
    expect((await exchange()).json.error.code).toBe('invalid_grant')
  })

  it('a provider disabled during a login refuses its callback; enabled again, it logs in', async () => {
    const admin = w.byName('t_admin').token
    const setEnabled = async (enabled: boolean) => expect((await h.request('PATCH', `/v1/idps/${idpId}`, { token: admin, body: { enabled } })).status).toBe(200)
    idp.nextAccount = { sub: 'erin', email: 'erin@corp.example', groups: ['eng'] }
    const b = new Browser()
    const cb = await toCallback(b)
    await setEnabled(false)
    try {
      expect((await b.go(cb)).status).toBe(404)
      expect((await new Browser().go(loginUrl())).status).toBe(404)
      expect(await h.sql("SELECT 1 FROM users WHERE email = 'erin@corp.example'")).toEqual([])
    } finally {
      await setEnabled(true)
    }
    const b2 = new Browser()
    expect((await b2.go(await toCallback(b2))).status).toBe(200)
  })

  it('uses a changed client secret at the next login (no stale discovery)', async () => {
    const admin = w.byName('t_admin').token
    const setSecret = async (clientSecret: string) =>
      expect((await h.request('PATCH', `/v1/idps/${idpId}`, { token: admin, body: { clientSecret } })).status).toBe(200)
    idp.nextAccount = { sub: 'frank', email: 'frank@corp.example', groups: [] }
    await setSecret('not-the-client-secret')
    try {
      const b = new Browser()
      const res = await b.go(await toCallback(b))
      expect(res.status).toBe(401)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('sso_failed')
    } finally {
      await setSecret(idp.clientSecret)
    }
    const b2 = new Browser()
    expect((await b2.go(await toCallback(b2))).status).toBe(200)
  })

  it('refuses a plain-http issuer unless --allow-loopback-idp is set', async () => {
    const created = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/idps`, {
      token: w.byName('t_admin').token,
      body: { kind: 'oidc', name: 'strict', clientSecret: idp.clientSecret, oidc: { issuer: idp.issuer, clientId: idp.clientId } },
    })
    h.s.options.allowLoopbackIdp = false
    try {
      const res = await new Browser().go(`${h.url}/v1/auth/oidc/${created.json.id}/login`)
      expect(res.status).toBe(502)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('sso_failed')
    } finally {
      h.s.options.allowLoopbackIdp = true
    }
  })
})
