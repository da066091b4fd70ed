/**
 * SAML 2.0 SP against a test IdP that signs with xml-crypto: SP-initiated login, signature verification,
 * audience/recipient/InResponseTo/time checks, replay and signature-wrapping attempts, group mapping.
 */
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser } from '../test-support/browser.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { TestSamlIdp, type ResponseInput } from '../test-support/saml-idp.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
let idpId: string
const idp = new TestSamlIdp()

beforeAll(async () => {
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
  const admin = w.byName('t_admin').token
  const created = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/idps`, {
    token: admin,
    body: { kind: 'saml', name: 'corp-saml', saml: { ssoUrl: idp.ssoUrl, idpEntityId: idp.entityId, idpCertificate: idp.publicKeyPem } },
  })
  expect(created.status).toBe(201)
  idpId = created.json.id
  // the IdP imports the SP metadata and requires signed AuthnRequests (new providers sign them by default)
  idp.requireSignedRequests = true
  idp.trustSp(await (await fetch(`${h.url}/v1/auth/saml/${idpId}/metadata`)).text())
  await h.request('PUT', `/v1/idps/${idpId}/group-mappings`, {
    token: admin,
    body: {
      mappings: [
        { group: 'auditors', role: 'auditor' },
        { group: 'eng', role: 'project_viewer', projectId: w.nodes.A1!.id },
      ],
    },
  })
})
afterAll(async () => h?.close())

const acs = () => `${h.url}/v1/auth/saml/${idpId}/acs`
const audience = () => `${h.url}/v1/auth/saml/${idpId}/metadata`

/** Starts a login in a fresh browser; returns it, the request id and the RelayState. */
async function start() {
  const b = new Browser()
  const res = await b.go(`${h.url}/v1/auth/saml/${idpId}/login`)
  expect(res.status).toBe(302)
  const loc = res.headers.get('location')!
  expect(loc.startsWith(idp.ssoUrl)).toBe(true)
  expect(idp.receiveAuthnRequest(loc).signed).toBe(true)
  return { b, requestId: TestSamlIdp.requestIdOf(loc), relay: new URL(loc).searchParams.get('RelayState')! }
}

async function post(b: Browser, relay: string, xml: string) {
  return b.go(acs(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: relay }).toString(),
  })
}

async function attempt(mutate: (i: ResponseInput) => ResponseInput, transform = (xml: string) => xml) {
  const { b, requestId, relay } = await start()
  const input = mutate({ requestId, acs: acs(), audience: audience(), email: 'eve@corp.example', groups: ['eng'] })
  return post(b, relay, transform(idp.responseXml(input)))
}

describe('SAML login', () => {
  it('publishes SP metadata', async () => {
    const res = await fetch(`${h.url}/v1/auth/saml/${idpId}/metadata`)
    expect(await res.text()).toContain(`Location="${acs()}"`)
  })

  it('accepts a response with a signed assertion and provisions the user with mapped roles', async () => {
    const { b, requestId, relay } = await start()
    const xml = idp.responseXml({ requestId, acs: acs(), audience: audience(), email: 'sam@corp.example', groups: ['auditors', 'eng'] })
    const res = await post(b, relay, xml)
    expect(res.status).toBe(200)
    const tokens = (await res.json()) as { access_token: string }
    const claims = decodeJwt(tokens.access_token)
    expect(claims.tid).toBe(w.nodes.T1!.id)
    expect(claims.rb).toEqual(
      expect.arrayContaining([
        { role: 'auditor', scope: { tenant: w.nodes.T1!.id } },
        { role: 'project_viewer', scope: w.nodes.A1!.path },
      ]),
    )

    const replay = await start()
    expect((await post(replay.b, replay.relay, xml)).status).toBe(401)
  })

  it('accepts a response signed as a whole', async () => {
    const res = await attempt((i) => ({ ...i, email: 'whole@corp.example', sign: 'response' }))
    expect(res.status).toBe(200)
  })

  it.each([
    ['unsigned', (i: ResponseInput) => ({ ...i, sign: 'none' as const })],
    ['another audience', (i: ResponseInput) => ({ ...i, audience: 'https://other-sp.example' })],
    ['another request', (i: ResponseInput) => ({ ...i, requestId: '_not-ours' })],
    ['another recipient', (i: ResponseInput) => ({ ...i, acs: 'https://other-sp.example/acs' })],
    ['another issuer', (i: ResponseInput) => ({ ...i, issuer: 'https://evil.example' })],
    ['expired', (i: ResponseInput) => ({ ...i, notOnOrAfter: new Date(Date.now() - 5 * 60_000) })],
  ])('refuses a response that is %s', async (_name, mutate) => {
    const res = await attempt(mutate)
    expect(res.status).toBe(401)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('sso_failed')
  })

  it('refuses a response signed by another key, or altered after signing', async () => {
    const { b, requestId, relay } = await start()
    const other = new TestSamlIdp()
    const input = { requestId, acs: acs(), audience: audience(), email: 'mallory@corp.example', groups: ['eng'] }
    expect((await post(b, relay, idp.responseXml(input, other.privateKeyPem))).status).toBe(401)
    const altered = await attempt(
      (i) => i,
      (xml) => xml.replace('<saml:AttributeValue>eng</saml:AttributeValue>', '<saml:AttributeValue>auditors</saml:AttributeValue>'),
    )
    expect(altered.status).toBe(401)
  })

  it('is not fooled by signature wrapping: an injected assertion never counts', async () => {
    const res = await attempt(
      (i) => i,
      (xml) => {
        const signed = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0]
        const evil = signed
          .replace(/ID="[^"]+"/, 'ID="_evil"')
          .replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '')
          .replace('eve@corp.example', 'admin@corp.example')
        return xml.replace(signed, `${evil}<samlp:Extensions>${signed}</samlp:Extensions>`)
      },
    )
    expect(res.status).toBe(401)
    const withSig = await attempt(
      (i) => i,
      (xml) => {
        const signed = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0]
        const evil = signed.replace(/ID="[^"]+"/, 'ID="_evil2"').replace(/eve@corp\.example/g, 'admin@corp.example')
        return xml.replace(signed, `${evil}<samlp:Extensions>${signed}</samlp:Extensions>`)
      },
    )
    if (withSig.status === 200) {
      const claims = decodeJwt(((await withSig.json()) as { access_token: string }).access_token)
      const [u] = await h.sql('SELECT email FROM users WHERE id = $1', [claims.sub])
      expect(u.email).toBe('eve@corp.example')
    } else expect(withSig.status).toBe(401)
    expect(await h.sql("SELECT 1 FROM users WHERE email = 'admin@corp.example'")).toEqual([])
  })

  it('refuses DTDs and a login without the browser cookie', async () => {
    const dtd = await attempt(
      (i) => i,
      (xml) => `<!DOCTYPE r [<!ENTITY x "y">]>${xml}`,
    )
    expect(dtd.status).toBe(401)
    const { requestId, relay } = await start()
    const xml = idp.responseXml({ requestId, acs: acs(), audience: audience(), email: 'nocookie@corp.example' })
    expect((await post(new Browser(), relay, xml)).status).toBe(401)
  })
})
