/**
 * Single logout under attack: return_to values a browser reads as another origin, logout messages without a
 * Destination (valid at every provider that trusts the same IdP), one provider's message replayed at another
 * tenant's provider, SHA-1 reference digests, error messages that echo the attacker's XML, and IdP URLs that
 * are not http(s).
 */
import { randomUUID } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser } from '../test-support/browser.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { TestSamlIdp, type LogoutRequestInput } from '../test-support/saml-idp.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
let x: string // provider of T1
let y: string // provider of T2 trusting the same IdP (same entity id, same key)
const idp = new TestSamlIdp()

const base = (id: string) => `${h.url}/v1/auth/saml/${id}`
const slo = (id: string) => `${base(id)}/slo`
const metadata = async (id: string) => (await fetch(`${base(id)}/metadata`)).text()

async function addProvider(tenantId: string, name: string): Promise<string> {
  const res = await h.request('POST', `/v1/tenants/${tenantId}/idps`, {
    token: w.byName('sys').token,
    // trusted for e-mail: one person logs in to both tenants through the same IdP (their one account is linked)
    body: {
      kind: 'saml',
      name,
      saml: { ssoUrl: idp.ssoUrl, idpEntityId: idp.entityId, idpCertificate: idp.publicKeyPem, sloUrl: idp.sloUrl, trustEmail: true },
    },
  })
  expect(res.status, res.body).toBe(201)
  return res.json.id
}

beforeAll(async () => {
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
  x = await addProvider(w.nodes.T1!.id!, 'shared-idp-x')
  y = await addProvider(w.nodes.T2!.id!, 'shared-idp-y')
})
afterAll(async () => h?.close())

interface Login {
  access: string
  sid: string
  sessionIndex: string
}

async function login(provider: string, email: string, returnTo?: string): Promise<Login> {
  const b = new Browser()
  idp.trustSp(await metadata(provider))
  const started = await b.go(`${base(provider)}/login${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`)
  expect(started.status).toBe(302)
  const { id, relayState } = idp.receiveAuthnRequest(started.headers.get('location')!)
  const sessionIndex = `_s-${randomUUID()}`
  const xml = idp.responseXml({ requestId: id, acs: `${base(provider)}/acs`, audience: `${base(provider)}/metadata`, email, sessionIndex })
  const res = await b.go(`${base(provider)}/acs`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: relayState! }).toString(),
  })
  expect(res.status).toBe(200)
  const tokens = (await res.json()) as { access_token: string }
  return { access: tokens.access_token, sid: decodeJwt(tokens.access_token).sid as string, sessionIndex }
}

const me = async (access: string) => (await h.request('GET', '/v1/me', { token: access })).status
const go = (url: string) => fetch(url, { redirect: 'manual' })
const postSlo = (provider: string, fields: Record<string, string>) =>
  fetch(slo(provider), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  })
const logoutRequest = (provider: string, over: Partial<LogoutRequestInput> & { nameId: string }) =>
  idp.logoutRequestXml({ destination: slo(provider), ...over })
const refusal = async (res: Response) => ({
  status: res.status,
  body: (await res.json()) as { error: { code: string; message: string; details: { reason: string } } },
})

describe('return_to', () => {
  // WHATWG URL parsing drops tabs and newlines: "/\t/evil.example" is "//evil.example", another origin
  const tricks = ['/\t/evil.example', '/\n/evil.example', '/\r\n/evil.example', '\t//evil.example', '/ /evil.example', '/\\evil.example']

  it.each(tricks)('of a logout refuses %j', async (returnTo) => {
    const u = await login(x, `rt-${randomUUID()}@corp.example`)
    const res = await h.request('POST', `/v1/auth/logout?return_to=${encodeURIComponent(returnTo)}`, { token: u.access })
    expect(res.status, res.body).toBe(400)
    expect(res.json.error.code).toBe('invalid_request')
    expect(await me(u.access)).toBe(200)
  })

  it.each(tricks)('of an SSO login refuses %j (the login code would go to that origin)', async (returnTo) => {
    const res = await go(`${base(x)}/login?return_to=${encodeURIComponent(returnTo)}`)
    expect(res.status).toBe(400)
    expect(res.headers.get('location')).toBeNull()
  })

  it('still takes relative paths with a query and allowed-looking paths', async () => {
    for (const ok of ['/__cfp/login?next=%2Fa', '/a//b', '/a/%2F%2Fb']) {
      expect((await go(`${base(x)}/login?return_to=${encodeURIComponent(ok)}`)).status, ok).toBe(302)
    }
  })
})

describe('a provider acts only on messages addressed to it', () => {
  it('refuses a LogoutRequest or LogoutResponse without Destination (signed messages must name it)', async () => {
    const email = `nodest-${randomUUID()}@corp.example`
    const a = await login(x, email)
    const r1 = await refusal(await go(idp.redirect(slo(x), 'SAMLRequest', logoutRequest(x, { nameId: email, destination: null }))))
    expect(r1).toMatchObject({ status: 401, body: { error: { code: 'slo_failed', details: { reason: 'wrong_destination' } } } })
    const r2 = await refusal(await postSlo(x, { SAMLRequest: idp.postMessage(logoutRequest(x, { nameId: email, destination: null })) }))
    expect(r2.body.error.details.reason).toBe('wrong_destination')
    expect(await me(a.access)).toBe(200)

    // a LogoutResponse to a pending logout, without Destination
    const out = await h.request('POST', '/v1/auth/logout', { token: a.access })
    idp.trustSp(await metadata(x))
    const req = idp.receiveLogoutRequest(out.json.idpLogoutUrl)
    const r3 = await refusal(await go(idp.redirect(slo(x), 'SAMLResponse', idp.logoutResponseXml({ destination: null, inResponseTo: req.id }))))
    expect(r3.body.error.details.reason).toBe('wrong_destination')
  })

  it("one tenant's LogoutRequest never revokes sessions of another tenant's provider, even for the same IdP and NameID", async () => {
    const email = `shared-${randomUUID()}@corp.example`
    const [atX, atY] = [await login(x, email), await login(y, email)]
    expect(decodeJwt(atY.access).tid).toBe(w.nodes.T2!.id)

    // addressed to X, replayed at Y: refused there; at X it ends X's session only
    const toX = idp.redirect(slo(x), 'SAMLRequest', logoutRequest(x, { nameId: email }))
    const atYRes = await refusal(await go(toX.replace(slo(x), slo(y))))
    expect(atYRes.body.error.details.reason).toBe('wrong_destination')
    expect(await me(atY.access)).toBe(200)
    expect((await go(toX)).status).toBe(302)
    expect(await me(atX.access)).toBe(401)
    expect(await me(atY.access)).toBe(200)

    // a LogoutResponse answering X's pending logout is unknown at Y
    const again = await login(x, email)
    const out = await h.request('POST', '/v1/auth/logout', { token: again.access })
    idp.trustSp(await metadata(x))
    const req = idp.receiveLogoutRequest(out.json.idpLogoutUrl)
    const answer = idp.redirect(slo(y), 'SAMLResponse', idp.logoutResponseXml({ destination: slo(y), inResponseTo: req.id }))
    expect((await refusal(await go(answer))).body.error.details.reason).toBe('unknown_request')
    expect(await me(atY.access)).toBe(200)
  })

  it('matches the NameID exactly (case and surrounding text count)', async () => {
    const email = `Exact-${randomUUID()}@corp.example`
    const u = await login(x, email)
    for (const nameId of [email.toLowerCase(), `${email}.evil`, email.slice(0, -1)]) {
      expect((await go(idp.redirect(slo(x), 'SAMLRequest', logoutRequest(x, { nameId })))).status).toBe(302)
    }
    expect(await me(u.access)).toBe(200)
  })
})

describe('POST-binding signatures', () => {
  it('refuses a reference digested with SHA-1', async () => {
    const email = `sha1-${randomUUID()}@corp.example`
    const u = await login(x, email)
    const res = await refusal(await postSlo(x, { SAMLRequest: idp.postMessage(logoutRequest(x, { nameId: email }), { digest: 'sha1' }) }))
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'slo_failed', details: { reason: 'signature_algorithm' } } } })
    expect(await me(u.access)).toBe(200)
  })

  it('refuses a signature over a child element instead of the message', async () => {
    const email = `child-${randomUUID()}@corp.example`
    const u = await login(x, email)
    const xml = logoutRequest(x, { nameId: email })
    const res = await refusal(await postSlo(x, { SAMLRequest: idp.postMessage(xml, { xpath: "//*[local-name(.)='NameID']" }) }))
    expect(res.status).toBe(401)
    expect(await me(u.access)).toBe(200)
  })
})

describe('refusals echo nothing of the message', () => {
  const marker = 'ECHO-7f3a'
  const cases: [string, () => Promise<Response>][] = [
    [
      'a foreign Destination',
      () => go(idp.redirect(slo(x), 'SAMLRequest', logoutRequest(x, { nameId: 'a@corp.example', destination: `https://${marker}.example/slo` }))),
    ],
    ['a foreign issuer', () => go(idp.redirect(slo(x), 'SAMLRequest', logoutRequest(x, { nameId: 'a@corp.example', issuer: `https://${marker}.example` })))],
    [
      'an unknown SigAlg',
      () => go(idp.redirect(slo(x), 'SAMLRequest', logoutRequest(x, { nameId: 'a@corp.example' })).replace(/SigAlg=[^&]+/, `SigAlg=${marker}`)),
    ],
    ['broken XML', () => go(idp.redirect(slo(x), 'SAMLRequest', `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><${marker}></x>`))],
  ]
  it.each(cases)('%s', async (_name, send) => {
    const res = await send()
    expect(res.status).toBeGreaterThanOrEqual(400)
    const text = await res.text()
    expect(JSON.parse(text).error.code).toBe('slo_failed')
    expect(text).not.toContain(marker)
  })

  it('a replayed message id', async () => {
    const id = `_${marker}-${randomUUID()}`
    const url = idp.redirect(slo(x), 'SAMLRequest', logoutRequest(x, { nameId: 'nobody@corp.example', id }))
    expect((await go(url)).status).toBe(302)
    const again = await go(url)
    const text = await again.text()
    expect(JSON.parse(text).error.details.reason).toBe('replayed')
    expect(text).not.toContain(marker)
  })
})

describe('IdP URLs', () => {
  it('must be http(s): a javascript: single-logout or sign-on URL is refused', async () => {
    const token = w.byName('sys').token
    for (const field of ['sloUrl', 'ssoUrl']) {
      for (const bad of ['javascript:alert(document.domain)//', 'data:text/html,hi', 'file:///etc/passwd']) {
        const saml = { ssoUrl: idp.ssoUrl, idpEntityId: idp.entityId, idpCertificate: idp.publicKeyPem, [field]: bad }
        const created = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/idps`, { token, body: { kind: 'saml', name: `bad-${randomUUID()}`, saml } })
        expect(created.status, `${field} ${bad}`).toBe(400)
        const patched = await h.request('PATCH', `/v1/idps/${x}`, { token, body: { saml: { [field]: bad } } })
        expect(patched.status, `${field} ${bad}`).toBe(400)
      }
    }
    expect((await h.request('GET', `/v1/idps/${x}`, { token })).json.config).toMatchObject({ sloUrl: idp.sloUrl, ssoUrl: idp.ssoUrl })
  })
})

describe('assertions at the ACS', () => {
  it('refuse a signature whose reference is digested with SHA-1', async () => {
    const b = new Browser()
    idp.trustSp(await metadata(x))
    const started = await b.go(`${base(x)}/login`)
    const { id, relayState } = idp.receiveAuthnRequest(started.headers.get('location')!)
    const xml = idp.responseXml({ requestId: id, acs: `${base(x)}/acs`, audience: `${base(x)}/metadata`, email: 'sha1@corp.example', digest: 'sha1' })
    const res = await b.go(`${base(x)}/acs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: relayState! }).toString(),
    })
    expect(res.status).toBe(401)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('sso_failed')
  })
})
