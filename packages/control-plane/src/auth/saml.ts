/**
 * SAML 2.0 service provider: SP-initiated login (HTTP-Redirect AuthnRequest) and the HTTP-POST assertion
 * consumer. A response is accepted only when one XML signature (on the assertion or the whole response)
 * verifies with the IdP's configured certificate or public key (RSA-SHA256/512; embedded KeyInfo is never
 * trusted), and everything read afterwards comes from the signed bytes (no signature wrapping). The assertion
 * must name the IdP as issuer, this SP as audience and the ACS as recipient, answer our request id, be within
 * its validity window, and never have been seen before.
 */
import { deflateRawSync } from 'node:zlib'
import { DOMParser, type Element, type Node } from '@xmldom/xmldom'
import { SignedXml } from 'xml-crypto'
import type { Services } from '../services.js'
import type { ExternalProfile } from './provision.js'

export interface SamlProvider {
  id: string
  tenant_id: string
  config: { ssoUrl: string; idpEntityId: string; idpCertificate: string; groupsAttribute?: string }
}

const NS_P = 'urn:oasis:names:tc:SAML:2.0:protocol'
const NS_A = 'urn:oasis:names:tc:SAML:2.0:assertion'
const NS_DS = 'http://www.w3.org/2000/09/xmldsig#'
const ALLOWED_SIG = ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512']
const SKEW_MS = 60_000
const EMAIL_ATTRS = ['email', 'mail', 'emailaddress', 'urn:oid:0.9.2342.19200300.100.1.3', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress']

export class SamlError extends Error {}
const refuse = (why: string): never => {
  throw new SamlError(why)
}

export const acsUrl = (s: Services, id: string) => `${s.options.publicUrl}/v1/auth/saml/${id}/acs`
export const spEntityId = (s: Services, id: string) => `${s.options.publicUrl}/v1/auth/saml/${id}/metadata`
const esc = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;')

export function authnRequestUrl(s: Services, p: SamlProvider, requestId: string, relayState: string): string {
  const xml =
    `<samlp:AuthnRequest xmlns:samlp="${NS_P}" xmlns:saml="${NS_A}" ID="${esc(requestId)}" Version="2.0" ` +
    `IssueInstant="${new Date(s.clock.now()).toISOString()}" Destination="${esc(p.config.ssoUrl)}" ` +
    `AssertionConsumerServiceURL="${esc(acsUrl(s, p.id))}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">` +
    `<saml:Issuer>${esc(spEntityId(s, p.id))}</saml:Issuer></samlp:AuthnRequest>`
  const url = new URL(p.config.ssoUrl)
  url.searchParams.set('SAMLRequest', deflateRawSync(Buffer.from(xml)).toString('base64'))
  url.searchParams.set('RelayState', relayState)
  return url.href
}

export function samlMetadata(s: Services, p: SamlProvider): string {
  return (
    `<?xml version="1.0"?>\n<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${esc(spEntityId(s, p.id))}">` +
    `<md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="${NS_P}">` +
    `<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>` +
    `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${esc(acsUrl(s, p.id))}" index="0"/>` +
    `</md:SPSSODescriptor></md:EntityDescriptor>\n`
  )
}

function parse(xml: string): Element {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) refuse('DTDs are not accepted')
  const doc = new DOMParser({ onError: (level, msg) => (level === 'warning' ? undefined : refuse(`malformed XML: ${msg}`)) }).parseFromString(
    xml,
    'text/xml',
  )
  return doc.documentElement ?? refuse('empty document')
}

function kids(el: Element | Node, ns: string, name: string): Element[] {
  const out: Element[] = []
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).localName === name && (n as Element).namespaceURI === ns) out.push(n as Element)
  }
  return out
}
const one = (el: Element, ns: string, name: string): Element => {
  const found = kids(el, ns, name)
  return found.length === 1 ? found[0]! : refuse(`expected exactly one ${name}`)
}
const text = (el: Element) => (el.textContent ?? '').trim()
const time = (el: Element, attr: string): number | undefined => {
  const v = el.getAttribute(attr)
  if (!v) return undefined
  const t = Date.parse(v)
  return Number.isNaN(t) ? refuse(`bad ${attr}`) : t
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
  if (!ALLOWED_SIG.includes(sig.signatureAlgorithm ?? '')) refuse(`signature algorithm ${sig.signatureAlgorithm} not allowed`)
  if (!sig.checkSignature(xml)) refuse('signature does not verify')
  const refs = sig.getSignedReferences()
  if (refs.length !== 1) refuse('expected one signed reference')
  const signed = parse(refs[0]!)
  if (signed.localName === 'Assertion' && signed.namespaceURI === NS_A) return signed
  if (signed.localName === 'Response' && signed.namespaceURI === NS_P) return one(signed, NS_A, 'Assertion')
  return refuse('the signature covers neither the response nor the assertion')
}

export async function verifySamlResponse(s: Services, p: SamlProvider, samlResponse: string, requestId: string): Promise<ExternalProfile> {
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8')
  const a = signedAssertion(xml, p.config.idpCertificate)
  const now = s.clock.now()
  if (text(one(a, NS_A, 'Issuer')) !== p.config.idpEntityId) refuse('wrong issuer')
  const subject = one(a, NS_A, 'Subject')
  const nameId = one(subject, NS_A, 'NameID')
  const confirmations = kids(subject, NS_A, 'SubjectConfirmation').filter(
    (c) => c.getAttribute('Method') === 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
  )
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
  const { rowCount } = await s.db.query(
    'INSERT INTO saml_assertions_seen (provider_id, assertion_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
    [p.id, assertionId, new Date(notOnOrAfter + SKEW_MS)],
  )
  if (!rowCount) refuse('assertion replayed')
  const emailAttr = EMAIL_ATTRS.map((n) => attrs.get(n)?.[0]).find(Boolean)
  const isEmailId = (nameId.getAttribute('Format') ?? '').endsWith(':emailAddress')
  return {
    subject: text(nameId),
    email: emailAttr ?? (isEmailId ? text(nameId) : ''),
    displayName: attrs.get('displayname')?.[0] ?? attrs.get('name')?.[0] ?? '',
    groups: attrs.get((p.config.groupsAttribute ?? 'groups').toLowerCase()) ?? [],
  }
}
