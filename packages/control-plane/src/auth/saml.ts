/**
 * SAML 2.0 service provider: SP-initiated login (HTTP-Redirect AuthnRequest, signed with the provider's SP key
 * when `signRequests` is on) and the HTTP-POST assertion consumer. A response is accepted only when one XML
 * signature (on the assertion or the whole response) verifies with the IdP's configured certificate or public
 * key (RSA-SHA256/512; embedded KeyInfo is never trusted), and everything read afterwards comes from the signed
 * bytes (no signature wrapping). The assertion must name the IdP as issuer, this SP as audience and the ACS as
 * recipient, answer our request id, be within its validity window, and never have been seen before. Single
 * logout lives in saml-logout.ts, the bindings' signatures in saml-binding.ts.
 */
import type { Element } from '@xmldom/xmldom'
import { SignedXml } from 'xml-crypto'
import type { Services } from '../services.js'
import type { ExternalProfile } from './provision.js'
import { redirectUrl } from './saml-binding.js'
import { publishedCertificates, spKey } from './saml-sp-key.js'
import { checkAlgorithms, esc, kids, NS_A, NS_DS, NS_P, one, parse, refuse, SKEW_MS, text, time } from './saml-xml.js'

export { SamlError } from './saml-xml.js'

export interface SamlConfig {
  ssoUrl: string
  idpEntityId: string
  idpCertificate: string
  groupsAttribute?: string
  /** sign HTTP-Redirect AuthnRequests with the SP key (stored explicitly; absent = off) */
  signRequests?: boolean
  /** the IdP's SingleLogoutService (HTTP-Redirect); without it there is no SP-initiated logout */
  sloUrl?: string
  /** the IdP's e-mail addresses count as verified (SAML has no verified claim): it may link existing accounts */
  trustEmail?: boolean
}

export interface SamlProvider {
  id: string
  tenant_id: string
  config: SamlConfig
}

/** What single logout needs to name a SAML login to its IdP: the NameID as sent, and the IdP's session index. */
export interface SamlLink {
  providerId: string
  nameId: string
  format?: string
  nameQualifier?: string
  spNameQualifier?: string
  sessionIndex?: string
}

const EMAIL_ATTRS = ['email', 'mail', 'emailaddress', 'urn:oid:0.9.2342.19200300.100.1.3', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress']
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect'
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST'

export const acsUrl = (s: Services, id: string) => `${s.options.publicUrl}/v1/auth/saml/${id}/acs`
export const spEntityId = (s: Services, id: string) => `${s.options.publicUrl}/v1/auth/saml/${id}/metadata`
export const sloEndpoint = (s: Services, id: string) => `${s.options.publicUrl}/v1/auth/saml/${id}/slo`
export const instant = (s: Services) => new Date(s.clock.now()).toISOString()

export async function authnRequestUrl(s: Services, p: SamlProvider, requestId: string, relayState: string): Promise<string> {
  const xml =
    `<samlp:AuthnRequest xmlns:samlp="${NS_P}" xmlns:saml="${NS_A}" ID="${esc(requestId)}" Version="2.0" ` +
    `IssueInstant="${instant(s)}" Destination="${esc(p.config.ssoUrl)}" ` +
    `AssertionConsumerServiceURL="${esc(acsUrl(s, p.id))}" ProtocolBinding="${POST}">` +
    `<saml:Issuer>${esc(spEntityId(s, p.id))}</saml:Issuer></samlp:AuthnRequest>`
  const key = p.config.signRequests === true ? (await spKey(s, p)).privateKey : undefined
  return redirectUrl(p.config.ssoUrl, 'SAMLRequest', xml, relayState, key)
}

/**
 * SP metadata: entity id, the signing certificates (AuthnRequests when switched on, always logout messages: the
 * current key's first, then a next key's and a previous key's during a rotation), SLO and ACS.
 */
export async function samlMetadata(s: Services, p: SamlProvider): Promise<string> {
  const certificates = await publishedCertificates(s, p)
  const slo = esc(sloEndpoint(s, p.id))
  return (
    `<?xml version="1.0"?>\n<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${esc(spEntityId(s, p.id))}">` +
    `<md:SPSSODescriptor AuthnRequestsSigned="${p.config.signRequests === true}" WantAssertionsSigned="true" protocolSupportEnumeration="${NS_P}">` +
    certificates
      .map(
        (c) =>
          `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="${NS_DS}"><ds:X509Data><ds:X509Certificate>${c}</ds:X509Certificate>` +
          `</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
      )
      .join('') +
    `<md:SingleLogoutService Binding="${REDIRECT}" Location="${slo}"/>` +
    `<md:SingleLogoutService Binding="${POST}" Location="${slo}"/>` +
    `<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>` +
    `<md:AssertionConsumerService Binding="${POST}" Location="${esc(acsUrl(s, p.id))}" index="0"/>` +
    `</md:SPSSODescriptor></md:EntityDescriptor>\n`
  )
}

/** Verifies the signature and returns the signed assertion element (re-parsed from the signed bytes). */
function signedAssertion(xml: string, certificate: string): Element {
  const root = parse(xml)
  if (root.localName !== 'Response' || root.namespaceURI !== NS_P) refuse('not a SAML Response')
  const status = one(one(root, NS_P, 'Status'), NS_P, 'StatusCode').getAttribute('Value')
  if (status !== 'urn:oasis:names:tc:SAML:2.0:status:Success') refuse(`IdP status ${status}`)
  if (kids(root, NS_A, 'EncryptedAssertion').length) refuse('encrypted assertions are not supported')
  const assertion = one(root, NS_A, 'Assertion')
  const signature = kids(assertion, NS_DS, 'Signature')[0] ?? kids(root, NS_DS, 'Signature')[0] ?? refuse('unsigned response')
  const sig = new SignedXml({ publicCert: certificate, getCertFromKeyInfo: () => null })
  sig.loadSignature(signature as unknown as globalThis.Node)
  checkAlgorithms(sig)
  if (!sig.checkSignature(xml)) refuse('signature does not verify')
  const refs = sig.getSignedReferences()
  if (refs.length !== 1) refuse('expected one signed reference')
  const signed = parse(refs[0]!)
  if (signed.localName === 'Assertion' && signed.namespaceURI === NS_A) return signed
  if (signed.localName === 'Response' && signed.namespaceURI === NS_P) return one(signed, NS_A, 'Assertion')
  return refuse('the signature covers neither the response nor the assertion')
}

/** The login's profile, and what single logout will need to name this login to the IdP. */
export async function verifySamlResponse(
  s: Services,
  p: SamlProvider,
  samlResponse: string,
  requestId: string,
): Promise<{ profile: ExternalProfile; link: SamlLink }> {
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8')
  const a = signedAssertion(xml, p.config.idpCertificate)
  const now = s.clock.now()
  if (text(one(a, NS_A, 'Issuer')) !== p.config.idpEntityId) refuse('wrong issuer')
  const subject = one(a, NS_A, 'Subject')
  const nameId = one(subject, NS_A, 'NameID')
  const confirmations = kids(subject, NS_A, 'SubjectConfirmation').filter((c) => c.getAttribute('Method') === 'urn:oasis:names:tc:SAML:2.0:cm:bearer')
  const ok = confirmations.some((c) => {
    const d = kids(c, NS_A, 'SubjectConfirmationData')[0]
    return (
      d !== undefined &&
      d.getAttribute('Recipient') === acsUrl(s, p.id) &&
      d.getAttribute('InResponseTo') === requestId &&
      (time(d, 'NotOnOrAfter') ?? 0) > now - SKEW_MS
    )
  })
  if (!requestId || !ok) refuse('no bearer confirmation for this request, recipient and time')
  const conditions = one(a, NS_A, 'Conditions')
  if ((time(conditions, 'NotBefore') ?? 0) > now + SKEW_MS) refuse('assertion not yet valid')
  const notOnOrAfter = time(conditions, 'NotOnOrAfter') ?? refuse('assertion without NotOnOrAfter')
  if (notOnOrAfter <= now - SKEW_MS) refuse('assertion expired')
  const audiences = kids(conditions, NS_A, 'AudienceRestriction').flatMap((r) => kids(r, NS_A, 'Audience').map(text))
  if (!audiences.includes(spEntityId(s, p.id))) refuse('assertion is for another audience')
  const attrs = new Map<string, string[]>()
  for (const st of kids(a, NS_A, 'AttributeStatement')) {
    for (const at of kids(st, NS_A, 'Attribute')) {
      attrs.set((at.getAttribute('Name') ?? '').toLowerCase(), kids(at, NS_A, 'AttributeValue').map(text))
    }
  }
  const assertionId = a.getAttribute('ID') ?? refuse('assertion without ID')
  const { rowCount } = await s.db.query('INSERT INTO saml_assertions_seen (provider_id, assertion_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
    p.id,
    assertionId,
    new Date(notOnOrAfter + SKEW_MS),
  ])
  if (!rowCount) refuse('assertion replayed')
  const emailAttr = EMAIL_ATTRS.map((n) => attrs.get(n)?.[0]).find(Boolean)
  const isEmailId = (nameId.getAttribute('Format') ?? '').endsWith(':emailAddress')
  const attr = (name: string) => nameId.getAttribute(name) || undefined
  const sessionIndex = kids(a, NS_A, 'AuthnStatement')[0]?.getAttribute('SessionIndex') || undefined
  const link: SamlLink = { providerId: p.id, nameId: text(nameId) }
  for (const [k, v] of [
    ['format', attr('Format')],
    ['nameQualifier', attr('NameQualifier')],
    ['spNameQualifier', attr('SPNameQualifier')],
    ['sessionIndex', sessionIndex],
  ] as const) {
    if (v) link[k] = v
  }
  return {
    profile: {
      subject: text(nameId),
      email: emailAttr ?? (isEmailId ? text(nameId) : ''),
      displayName: attrs.get('displayname')?.[0] ?? attrs.get('name')?.[0] ?? '',
      groups: attrs.get((p.config.groupsAttribute ?? 'groups').toLowerCase()) ?? [],
    },
    link,
  }
}
