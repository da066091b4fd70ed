/**
 * SAML signed AuthnRequests and single logout against the test IdP, which trusts the SP's metadata: it
 * verifies the SP's signatures with the published certificate (and refuses unsigned requests when it requires
 * signatures); the SP verifies the IdP's LogoutRequests and LogoutResponses on both bindings, revokes sessions
 * through the revocation feed, and refuses unsigned, forged, stale and replayed messages.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser } from '../test-support/browser.js'
import { createHarness, SERVICE_TOKEN, type Harness } from '../test-support/harness.js'
import { RSA_SHA1, TestSamlIdp, type LogoutRequestInput } from '../test-support/saml-idp.js'
import { seedWorld, type World } from '../test-support/world.js'
import { selfSignedCertificate } from './x509.js'

let h: Harness
let w: World
let idpId: string
let admin: string
const idp = new TestSamlIdp()
idp.requireSignedRequests = true
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'

const base = () => `${h.url}/v1/auth/saml/${idpId}`
const slo = () => `${base()}/slo`
const metadata = async () => (await fetch(`${base()}/metadata`)).text()

beforeAll(async () => {
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
  admin = w.byName('t_admin').token
  const created = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/idps`, {
    token: admin,
    body: { kind: 'saml', name: 'slo-saml', saml: { ssoUrl: idp.ssoUrl, idpEntityId: idp.entityId, idpCertificate: idp.publicKeyPem, sloUrl: idp.sloUrl } },
  })
  expect(created.status, created.body).toBe(201)
  idpId = created.json.id
  idp.trustSp(await metadata())
})
afterAll(async () => h?.close())

interface Login {
  access: string
  refresh: string
  sid: string
  sessionIndex: string
}

/** A full SAML login through the IdP (which checks the AuthnRequest's signature); with `viaCode`, through a login code. */
async function login(email: string, viaCode = false): Promise<Login> {
  const b = new Browser()
  const started = await b.go(`${base()}/login${viaCode ? '?return_to=/done' : ''}`)
  const { id, relayState } = idp.receiveAuthnRequest(started.headers.get('location')!)
  const sessionIndex = `_s-${randomUUID()}`
  const xml = idp.responseXml({ requestId: id, acs: `${base()}/acs`, audience: `${base()}/metadata`, email, sessionIndex })
  const res = await b.go(`${base()}/acs`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: relayState! }).toString(),
  })
  let tokens: { access_token: string; refresh_token: string }
  if (viaCode) {
    expect(res.status).toBe(302)
    const code = new URL(res.headers.get('location')!, h.url).searchParams.get('code')!
    // redeemed by the browser that logged in (the code is bound to its cookie)
    const redeemed = await b.go(`${h.url}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'login_code', code }),
    })
    tokens = (await redeemed.json()) as typeof tokens
  } else {
    expect(res.status).toBe(200)
    tokens = (await res.json()) as typeof tokens
  }
  return { access: tokens.access_token, refresh: tokens.refresh_token, sid: decodeJwt(tokens.access_token).sid as string, sessionIndex }
}

const refresh = (token: string) => h.request('POST', '/v1/auth/token', { body: { grant_type: 'refresh_token', refresh_token: token } })
const me = async (access: string) => (await h.request('GET', '/v1/me', { token: access })).status
const go = (url: string) => fetch(url, { redirect: 'manual' })
const postSlo = (fields: Record<string, string>) =>
  fetch(slo(), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  })
const logoutRequest = (over: Partial<LogoutRequestInput> & { nameId: string }) => idp.logoutRequestXml({ destination: slo(), ...over })

describe('SP signing key and metadata', () => {
  it('publishes the signing certificate, the SLO endpoints and AuthnRequestsSigned, in schema order', async () => {
    const xml = await metadata()
    expect(xml).toContain('AuthnRequestsSigned="true"')
    const order = [
      '<md:KeyDescriptor use="signing">',
      `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${slo()}"/>`,
      '<md:NameIDFormat>',
      '<md:AssertionConsumerService',
    ]
    const at = order.map((s) => xml.indexOf(s))
    expect(at.every((i) => i > 0)).toBe(true)
    expect([...at].sort((a, b) => a - b)).toEqual(at)
    const cert = idp.trustSp(xml)
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa')
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048)
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(cert.subject).toBe(`CN=CFP SAML SP ${idpId}`)
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 9 * 365 * 24 * 3600_000)
    expect(await metadata()).toBe(xml) // created once, then the same
  })

  it('keeps the private key sealed: not in the database in clear, never in an API answer', async () => {
    const [row] = await h.sql("SELECT private_enc FROM saml_sp_keys WHERE provider_id = $1 AND state = 'current'", [idpId])
    expect(row.private_enc).toMatch(/^v1\./)
    expect(row.private_enc).not.toContain('PRIVATE KEY')
    const read = await h.request('GET', `/v1/idps/${idpId}`, { token: admin })
    const list = await h.request('GET', `/v1/tenants/${w.nodes.T1!.id}/idps`, { token: admin })
    const keys = await h.request('GET', `/v1/idps/${idpId}/saml/signing-keys`, { token: admin })
    expect(keys.status).toBe(200)
    for (const body of [read.body, list.body, keys.body, await metadata()]) {
      expect(body).not.toContain(row.private_enc.split('.')[2].slice(0, 24))
      expect(body).not.toMatch(/PRIVATE KEY|sp_key|private/i)
    }
    expect(read.json.config).toMatchObject({ signRequests: true, sloUrl: idp.sloUrl })
  })
})

describe('signed AuthnRequests', () => {
  it('are verified by the IdP with the metadata certificate; a tampered one is not', async () => {
    const loc = (await new Browser().go(`${base()}/login`)).headers.get('location')!
    expect(new URL(loc).searchParams.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256')
    expect(idp.receiveAuthnRequest(loc).signed).toBe(true)
    expect(() => idp.receiveAuthnRequest(loc.replace(/RelayState=[^&]+/, 'RelayState=forged'))).toThrow(/does not verify/)
    // an IdP holding another certificate for this SP refuses it too
    const stranger = new TestSamlIdp()
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const otherCert = selfSignedCertificate({ privateKey, commonName: 'other', notBefore: new Date(), notAfter: new Date(Date.now() + 3600_000) })
    stranger.trustSp((await metadata()).replace(/<ds:X509Certificate>[^<]+/, `<ds:X509Certificate>${otherCert.toString('base64')}`))
    expect(() => stranger.receiveAuthnRequest(loc)).toThrow(/does not verify/)
  })

  it('switched off, are unsigned, and an IdP that requires signatures refuses them', async () => {
    const off = await h.request('PATCH', `/v1/idps/${idpId}`, { token: admin, body: { saml: { signRequests: false } } })
    expect(off.json.config.signRequests).toBe(false)
    try {
      expect(await metadata()).toContain('AuthnRequestsSigned="false"')
      expect(await metadata()).toContain('<md:KeyDescriptor use="signing">') // logout messages are still signed
      const loc = (await new Browser().go(`${base()}/login`)).headers.get('location')!
      expect(new URL(loc).searchParams.has('Signature')).toBe(false)
      expect(() => idp.receiveAuthnRequest(loc)).toThrow(/requires signed requests/)
    } finally {
      const back = await h.request('PATCH', `/v1/idps/${idpId}`, { token: admin, body: { saml: { signRequests: null } } })
      expect(back.json.config.signRequests).toBe(true) // null: back to the default
    }
  })
})

describe('SP-initiated single logout', () => {
  it('logout revokes the session and returns a signed LogoutRequest; the signed LogoutResponse ends at the login page, once', async () => {
    const u = await login('sp-logout@corp.example')
    const out = await h.request('POST', '/v1/auth/logout', { token: u.access })
    expect(out.status).toBe(200)
    expect(Object.keys(out.json)).toEqual(['idpLogoutUrl'])
    expect(out.json.idpLogoutUrl.startsWith(`${idp.sloUrl}?SAMLRequest=`)).toBe(true)
    const req = idp.receiveLogoutRequest(out.json.idpLogoutUrl)
    expect(req).toMatchObject({
      destination: idp.sloUrl,
      issuer: `${base()}/metadata`,
      nameId: 'sp-logout@corp.example',
      nameIdFormat: EMAIL_FORMAT,
      sessionIndex: u.sessionIndex,
    })
    expect((await refresh(u.refresh)).json.error.code).toBe('invalid_grant')
    expect(await me(u.access)).toBe(401)

    const answer = idp.redirect(slo(), 'SAMLResponse', idp.logoutResponseXml({ destination: slo(), inResponseTo: req.id }))
    const res = await go(answer)
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe('/__cfp/login')
    const replay = await go(answer)
    expect(replay.status).toBe(401)
    expect(await replay.json()).toMatchObject({ error: { code: 'slo_failed', details: { reason: 'replayed' } } })
    // another response to the same (consumed) request
    const late = await go(idp.redirect(slo(), 'SAMLResponse', idp.logoutResponseXml({ destination: slo(), inResponseTo: req.id })))
    expect(await late.json()).toMatchObject({ error: { code: 'slo_failed', details: { reason: 'unknown_request' } } })
  })

  it('works for a login handed over by a login code, returns to return_to, and says when the IdP logout was partial (POST binding)', async () => {
    const u = await login('sp-logout-code@corp.example', true)
    expect((await h.request('POST', '/v1/auth/logout?return_to=//evil.example', { token: u.access })).status).toBe(400)
    expect(await me(u.access)).toBe(200) // a refused logout changes nothing
    const out = await h.request('POST', '/v1/auth/logout?return_to=/__cfp/login%3Fbye%3D1', { token: u.access })
    const req = idp.receiveLogoutRequest(out.json.idpLogoutUrl)
    expect(req).toMatchObject({ nameId: 'sp-logout-code@corp.example', sessionIndex: u.sessionIndex })
    const xml = idp.logoutResponseXml({ destination: slo(), inResponseTo: req.id, status: 'urn:oasis:names:tc:SAML:2.0:status:Responder' })
    const res = await postSlo({ SAMLResponse: idp.postMessage(xml) })
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe('/__cfp/login?bye=1&slo=partial')
  })

  it('a session not opened through SAML logs out as before, without an IdP URL', async () => {
    const t = await h.login(w.byName('t_viewer').userId)
    const out = await h.request('POST', '/v1/auth/logout', { token: t.access })
    expect(out.status).toBe(200)
    expect(out.json).toEqual({})
  })
})

describe('IdP-initiated single logout', () => {
  it('a signed LogoutRequest revokes the named session (revocation feed, refresh token) and is answered with a signed LogoutResponse', async () => {
    const email = 'idp-logout@corp.example'
    const [a, b, bystander] = [await login(email), await login(email, true), await login('bystander@corp.example')]
    const since = (await h.request('GET', '/v1/service/revocations?since=0', { token: SERVICE_TOKEN })).json.version
    const id = `_lr-${randomUUID()}`
    const url = idp.redirect(slo(), 'SAMLRequest', logoutRequest({ id, nameId: email, sessionIndexes: [a.sessionIndex] }), { relayState: 'idp relay/1' })
    const res = await go(url)
    expect(res.status).toBe(302)
    const answer = idp.receiveLogoutResponse(res.headers.get('location')!)
    expect(answer).toEqual({
      inResponseTo: id,
      destination: idp.sloUrl,
      issuer: `${base()}/metadata`,
      status: 'urn:oasis:names:tc:SAML:2.0:status:Success',
      relayState: 'idp relay/1',
    })
    const feed = (await h.request('GET', `/v1/service/revocations?since=${since}`, { token: SERVICE_TOKEN })).json.items
    expect(feed).toContainEqual(expect.objectContaining({ kind: 'session', subject: a.sid, reason: 'saml_logout' }))
    expect(feed.map((i: { subject: string }) => i.subject)).not.toContain(b.sid)
    expect((await refresh(a.refresh)).json.error.code).toBe('invalid_grant')
    expect(await me(a.access)).toBe(401)
    expect(await me(b.access)).toBe(200)

    // POST binding without SessionIndex: every remaining session of that NameID, nobody else's
    const post = await postSlo({ SAMLRequest: idp.postMessage(logoutRequest({ nameId: email })), RelayState: 'r2' })
    expect(post.status).toBe(302)
    expect(idp.receiveLogoutResponse(post.headers.get('location')!)).toMatchObject({ status: 'urn:oasis:names:tc:SAML:2.0:status:Success', relayState: 'r2' })
    expect((await refresh(b.refresh)).status).toBe(400)
    expect(await me(bystander.access)).toBe(200)
  })
})

describe('a disabled provider', () => {
  it('signs nobody in, but its signed LogoutRequest still ends the sessions opened through it before', async () => {
    const email = 'disabled-idp@corp.example'
    const session = await login(email)
    const disable = (enabled: boolean) => h.request('PATCH', `/v1/idps/${idpId}`, { token: admin, body: { enabled } })
    expect((await disable(false)).status).toBe(200)
    try {
      expect((await go(`${base()}/login`)).status).toBe(404)
      expect(await me(session.access)).toBe(200)
      const res = await go(idp.redirect(slo(), 'SAMLRequest', logoutRequest({ nameId: email, sessionIndexes: [session.sessionIndex] })))
      expect(res.status).toBe(302)
      expect(idp.receiveLogoutResponse(res.headers.get('location')!)).toMatchObject({ status: 'urn:oasis:names:tc:SAML:2.0:status:Success' })
      expect(await me(session.access)).toBe(401)
      expect((await refresh(session.refresh)).json.error.code).toBe('invalid_grant')
      // and it still checks what it takes: an unsigned request is refused
      const unsigned = await go(idp.redirect(slo(), 'SAMLRequest', logoutRequest({ nameId: email }), { sign: 'none' }))
      expect([unsigned.status, ((await unsigned.json()) as { error: { details: unknown } }).error.details]).toEqual([401, { reason: 'unsigned' }])
    } finally {
      expect((await disable(true)).status).toBe(200)
    }
  })
})

describe('refused logout messages', () => {
  let victim: Login
  beforeAll(async () => {
    victim = await login('victim@corp.example')
  })
  const other = new TestSamlIdp()
  const req = (over: Partial<LogoutRequestInput> = {}) => logoutRequest({ nameId: 'victim@corp.example', ...over })
  const b64 = (s: string) => Buffer.from(s).toString('base64')

  const cases: [string, () => Promise<Response>, number, string][] = [
    ['unsigned (redirect)', () => go(idp.redirect(slo(), 'SAMLRequest', req(), { sign: 'none' })), 401, 'unsigned'],
    ['signed by another key', () => go(idp.redirect(slo(), 'SAMLRequest', req(), { key: other.privateKeyPem })), 401, 'bad_signature'],
    [
      'altered after signing',
      () => go(idp.redirect(slo(), 'SAMLRequest', req(), { relayState: 'a' }).replace('RelayState=a', 'RelayState=b')),
      401,
      'bad_signature',
    ],
    ['signed with RSA-SHA1', () => go(idp.redirect(slo(), 'SAMLRequest', req(), { sigAlg: RSA_SHA1 })), 401, 'signature_algorithm'],
    ['from another issuer', () => go(idp.redirect(slo(), 'SAMLRequest', req({ issuer: 'https://evil.example' }))), 401, 'wrong_issuer'],
    ['for another SP', () => go(idp.redirect(slo(), 'SAMLRequest', req({ destination: 'https://other-sp.example/slo' }))), 401, 'wrong_destination'],
    ['stale', () => go(idp.redirect(slo(), 'SAMLRequest', req({ issueInstant: new Date(Date.now() - 30 * 60_000) }))), 401, 'expired'],
    ['not XML', () => go(idp.redirect(slo(), 'SAMLRequest', '<samlp:LogoutRequest')), 400, 'malformed'],
    ['unsigned (POST)', () => postSlo({ SAMLRequest: idp.postMessage(req(), { sign: 'none' }) }), 401, 'unsigned'],
    ['POST signed by another key', () => postSlo({ SAMLRequest: idp.postMessage(req(), { key: other.privateKeyPem }) }), 401, 'bad_signature'],
    [
      'POST altered after signing',
      () => {
        const signed = Buffer.from(idp.postMessage(req({ nameId: 'nobody@corp.example' })), 'base64').toString()
        return postSlo({ SAMLRequest: b64(signed.replace('nobody@corp.example', 'victim@corp.example')) })
      },
      401,
      'bad_signature',
    ],
    [
      'a LogoutResponse to no request',
      () => go(idp.redirect(slo(), 'SAMLResponse', idp.logoutResponseXml({ destination: slo(), inResponseTo: '_never-sent' }))),
      401,
      'unknown_request',
    ],
    [
      'an unsigned LogoutResponse',
      () => go(idp.redirect(slo(), 'SAMLResponse', idp.logoutResponseXml({ destination: slo(), inResponseTo: '_x' }), { sign: 'none' })),
      401,
      'unsigned',
    ],
    ['both a request and a response', () => postSlo({ SAMLRequest: b64('x'), SAMLResponse: b64('y') }), 400, 'malformed'],
    ['neither', () => go(`${slo()}?RelayState=x`), 400, 'malformed'],
  ]

  it.each(cases)('refuses a LogoutRequest that is %s, with a clear JSON error', async (_name, send, status, reason) => {
    const res = await send()
    expect(res.status).toBe(status)
    const text = await res.text()
    expect(JSON.parse(text)).toEqual({ error: { code: 'slo_failed', message: expect.stringMatching(/^SAML logout refused: /), details: { reason } } })
    expect(text).not.toMatch(/\n\s+at |\.ts:\d|\.js:\d/)
    expect(await me(victim.access)).toBe(200)
  })

  it('refuses a replayed LogoutRequest (after it revoked the session once)', async () => {
    const url = idp.redirect(slo(), 'SAMLRequest', req())
    expect((await go(url)).status).toBe(302)
    expect(await me(victim.access)).toBe(401)
    const again = await go(url)
    expect(again.status).toBe(401)
    expect(await again.json()).toMatchObject({ error: { code: 'slo_failed', details: { reason: 'replayed' } } })
  })
})
