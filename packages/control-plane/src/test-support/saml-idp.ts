/**
 * A minimal SAML 2.0 identity provider for tests: builds Responses and signs the assertion (or the whole
 * response) with RSA-SHA256 through xml-crypto, the way real IdPs do, so the SP's verification is exercised
 * against genuine XML signatures. For signed requests and single logout it also acts as an IdP that trusts
 * the SP's metadata: it verifies the SP's redirect-binding signatures (AuthnRequest, LogoutRequest,
 * LogoutResponse) with the certificates published there (any of them, as during a key rotation, and says
 * which one verified), refuses unsigned AuthnRequests when it requires signatures, and sends LogoutRequests
 * and LogoutResponses of its own (redirect binding with a query-string signature, or POST binding with an
 * enveloped XML signature). Its URL encoding is URLSearchParams', not the SP's, so the SP must verify the
 * octets as received.
 */
import { generateKeyPairSync, randomUUID, sign, verify, X509Certificate } from 'node:crypto'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { SignedXml } from 'xml-crypto'

const NS_P = 'urn:oasis:names:tc:SAML:2.0:protocol'
const NS_A = 'urn:oasis:names:tc:SAML:2.0:assertion'

export interface ResponseInput {
  requestId: string
  acs: string
  audience: string
  email: string
  groups?: string[]
  issuer?: string
  assertionId?: string
  notOnOrAfter?: Date
  sign?: 'assertion' | 'response' | 'none'
  sessionIndex?: string
  /** digest the signed reference with SHA-1 instead of SHA-256 */
  digest?: 'sha1'
}

export const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256'
export const RSA_SHA1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1'

export interface RedirectOptions {
  relayState?: string
  /** 'none': no signature; default: signed with this IdP's key (or `key`) */
  sign?: 'none'
  key?: string
  sigAlg?: typeof RSA_SHA256 | typeof RSA_SHA1
}

export interface LogoutRequestInput {
  /** null: no Destination attribute */
  destination: string | null
  nameId: string
  sessionIndexes?: string[]
  id?: string
  issuer?: string
  issueInstant?: Date
}

export interface LogoutResponseInput {
  /** null: no Destination attribute */
  destination: string | null
  inResponseTo: string
  status?: string
  id?: string
  issuer?: string
}

/** The query's parameters with their values as sent (still URL-encoded). */
function rawParams(url: string): Map<string, string> {
  const query = new URL(url).search.slice(1)
  return new Map(
    query
      .split('&')
      .filter(Boolean)
      .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
  )
}
const decode = (v: string) => decodeURIComponent(v.replace(/\+/g, ' '))
const attr = (xml: string, name: string) => new RegExp(`\\s${name}="([^"]*)"`).exec(xml)?.[1]
const element = (xml: string, name: string) => new RegExp(`<(?:\\w+:)?${name}[^>]*>([^<]*)</(?:\\w+:)?${name}>`).exec(xml)?.[1]

export class TestSamlIdp {
  readonly entityId = 'https://idp.corp.example/saml'
  readonly ssoUrl = 'https://idp.corp.example/sso'
  private readonly keys = generateKeyPairSync('rsa', { modulusLength: 2048 })
  readonly publicKeyPem = this.keys.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  readonly privateKeyPem = this.keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

  readonly sloUrl = 'https://idp.corp.example/slo'
  /** refuse AuthnRequests without a valid signature (as IdPs configured to require signed requests do) */
  requireSignedRequests = false
  /** the SP's signing certificates, from its metadata (`trustSp`): a signature verifying with any of them is the SP's */
  spCertificates: X509Certificate[] = []

  /**
   * Reads the SP's signing certificates from its metadata (every `<md:KeyDescriptor use="signing">`, as an IdP
   * admin's metadata import does, so a key published ahead of a rotation is trusted too); returns the first.
   */
  trustSp(metadata: string): X509Certificate {
    const found = [...metadata.matchAll(/<md:KeyDescriptor use="signing">[\s\S]*?<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/g)]
    if (!found.length) throw new Error('the SP metadata has no signing certificate')
    this.spCertificates = found.map((m) => new X509Certificate(Buffer.from(m[1]!, 'base64')))
    return this.spCertificates[0]!
  }

  /**
   * Verifies the SP's redirect-binding signature over the raw query (SAML bindings §3.4.4.1) and returns the
   * inflated message; throws when it is unsigned (and `required`) or the signature does not verify.
   */
  receiveRedirect(
    url: string,
    param: 'SAMLRequest' | 'SAMLResponse',
    required = true,
  ): { xml: string; signed: boolean; relayState?: string; signedBy?: X509Certificate } {
    const raw = rawParams(url)
    const message = raw.get(param)
    if (!message) throw new Error(`no ${param}`)
    const xml = inflateRawSync(Buffer.from(decode(message), 'base64')).toString()
    const relay = raw.get('RelayState')
    const sigAlg = raw.get('SigAlg')
    const signature = raw.get('Signature')
    const out = { xml, ...(relay !== undefined ? { relayState: decode(relay) } : {}) }
    if (!signature || !sigAlg) {
      if (required) throw new Error('unsigned request refused: this IdP requires signed requests')
      return { ...out, signed: false }
    }
    if (decode(sigAlg) !== RSA_SHA256) throw new Error(`unexpected SigAlg ${decode(sigAlg)}`)
    if (!this.spCertificates.length) throw new Error('the SP certificate is not configured at the IdP')
    const octets = `${param}=${message}${relay !== undefined ? `&RelayState=${relay}` : ''}&SigAlg=${sigAlg}`
    const signedBy = this.spCertificates.find((c) => verify('sha256', Buffer.from(octets), c.publicKey, Buffer.from(decode(signature), 'base64')))
    if (!signedBy) throw new Error('the SP signature does not verify')
    return { ...out, signed: true, signedBy }
  }

  /** An AuthnRequest as this IdP accepts it: signature checked when present, required when `requireSignedRequests`. */
  receiveAuthnRequest(url: string): { id: string; signed: boolean; relayState?: string; signedBy?: X509Certificate } {
    const r = this.receiveRedirect(url, 'SAMLRequest', this.requireSignedRequests)
    if (!r.xml.includes('<samlp:AuthnRequest')) throw new Error('not an AuthnRequest')
    return {
      id: attr(r.xml, 'ID')!,
      signed: r.signed,
      ...(r.relayState !== undefined ? { relayState: r.relayState } : {}),
      ...(r.signedBy ? { signedBy: r.signedBy } : {}),
    }
  }

  /** The SP's LogoutRequest (always signed), its fields as sent, and the certificate its signature verified with. */
  receiveLogoutRequest(url: string) {
    const { xml, signedBy } = this.receiveRedirect(url, 'SAMLRequest')
    if (!xml.includes('<samlp:LogoutRequest')) throw new Error('not a LogoutRequest')
    return {
      id: attr(xml, 'ID')!,
      destination: attr(xml, 'Destination'),
      issuer: element(xml, 'Issuer'),
      nameId: element(xml, 'NameID'),
      nameIdFormat: /<saml:NameID[^>]*\sFormat="([^"]*)"/.exec(xml)?.[1],
      sessionIndex: element(xml, 'SessionIndex'),
      signedBy: signedBy!,
      xml,
    }
  }

  /** The SP's LogoutResponse (always signed). */
  receiveLogoutResponse(url: string) {
    const { xml, relayState } = this.receiveRedirect(url, 'SAMLResponse')
    if (!xml.includes('<samlp:LogoutResponse')) throw new Error('not a LogoutResponse')
    return {
      inResponseTo: attr(xml, 'InResponseTo'),
      destination: attr(xml, 'Destination'),
      issuer: element(xml, 'Issuer'),
      status: attr(xml, 'Value'),
      relayState,
    }
  }

  logoutRequestXml(i: LogoutRequestInput): string {
    const at = (i.issueInstant ?? new Date()).toISOString()
    return (
      `<samlp:LogoutRequest xmlns:samlp="${NS_P}" xmlns:saml="${NS_A}" ID="${i.id ?? '_' + randomUUID()}" Version="2.0" IssueInstant="${at}" ` +
      `${i.destination === null ? '' : `Destination="${i.destination}"`}><saml:Issuer>${i.issuer ?? this.entityId}</saml:Issuer>` +
      `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${i.nameId}</saml:NameID>` +
      (i.sessionIndexes ?? []).map((x) => `<samlp:SessionIndex>${x}</samlp:SessionIndex>`).join('') +
      `</samlp:LogoutRequest>`
    )
  }

  logoutResponseXml(i: LogoutResponseInput): string {
    return (
      `<samlp:LogoutResponse xmlns:samlp="${NS_P}" xmlns:saml="${NS_A}" ID="${i.id ?? '_' + randomUUID()}" Version="2.0" ` +
      `IssueInstant="${new Date().toISOString()}" ${i.destination === null ? '' : `Destination="${i.destination}" `}InResponseTo="${i.inResponseTo}">` +
      `<saml:Issuer>${i.issuer ?? this.entityId}</saml:Issuer><samlp:Status><samlp:StatusCode ` +
      `Value="${i.status ?? 'urn:oasis:names:tc:SAML:2.0:status:Success'}"/></samlp:Status></samlp:LogoutResponse>`
    )
  }

  /** `xml` on the redirect binding to `target`, signed over the query string as URLSearchParams encodes it. */
  redirect(target: string, param: 'SAMLRequest' | 'SAMLResponse', xml: string, o: RedirectOptions = {}): string {
    const q = new URLSearchParams({ [param]: deflateRawSync(Buffer.from(xml)).toString('base64') })
    if (o.relayState !== undefined) q.set('RelayState', o.relayState)
    if (o.sign !== 'none') {
      const alg = o.sigAlg ?? RSA_SHA256
      q.set('SigAlg', alg)
      q.set('Signature', sign(alg === RSA_SHA1 ? 'sha1' : 'sha256', Buffer.from(q.toString()), o.key ?? this.privateKeyPem).toString('base64'))
    }
    return `${target}?${q}`
  }

  /**
   * `xml` for the POST binding (base64), with an enveloped RSA-SHA256 signature over the root unless `sign` is 'none';
   * `digest: 'sha1'` digests the reference with SHA-1 (as some old IdPs do), `xpath` signs another element.
   */
  postMessage(xml: string, o: { sign?: 'none'; key?: string; digest?: 'sha1'; xpath?: string } = {}): string {
    if (o.sign === 'none') return Buffer.from(xml).toString('base64')
    const root = /^<(?:\w+:)?(\w+)/.exec(xml)![1]!
    const sig = new SignedXml({
      privateKey: o.key ?? this.privateKeyPem,
      signatureAlgorithm: RSA_SHA256,
      canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
    })
    sig.addReference({
      xpath: o.xpath ?? `/*[local-name(.)='${root}']`,
      digestAlgorithm: o.digest === 'sha1' ? 'http://www.w3.org/2000/09/xmldsig#sha1' : 'http://www.w3.org/2001/04/xmlenc#sha256',
      transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    })
    sig.computeSignature(xml, { location: { reference: `/*[local-name(.)='${root}']/*[local-name(.)='Issuer']`, action: 'after' } })
    return Buffer.from(sig.getSignedXml()).toString('base64')
  }

  /** The request id inside a redirect-binding AuthnRequest URL. */
  static requestIdOf(redirectUrl: string): string {
    const xml = inflateRawSync(Buffer.from(new URL(redirectUrl).searchParams.get('SAMLRequest')!, 'base64')).toString()
    return /ID="([^"]+)"/.exec(xml)![1]!
  }

  responseXml(i: ResponseInput, privateKeyPem = this.privateKeyPem): string {
    const now = new Date()
    const until = (i.notOnOrAfter ?? new Date(now.getTime() + 5 * 60_000)).toISOString()
    const issuer = i.issuer ?? this.entityId
    const groups = (i.groups ?? []).map((g) => `<saml:AttributeValue>${g}</saml:AttributeValue>`).join('')
    const xml =
      `<samlp:Response xmlns:samlp="${NS_P}" xmlns:saml="${NS_A}" ID="_${randomUUID()}" Version="2.0" IssueInstant="${now.toISOString()}" ` +
      `Destination="${i.acs}" InResponseTo="${i.requestId}"><saml:Issuer>${issuer}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
      `<saml:Assertion ID="${i.assertionId ?? '_' + randomUUID()}" Version="2.0" IssueInstant="${now.toISOString()}">` +
      `<saml:Issuer>${issuer}</saml:Issuer><saml:Subject>` +
      `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${i.email}</saml:NameID>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData ` +
      `InResponseTo="${i.requestId}" Recipient="${i.acs}" NotOnOrAfter="${until}"/></saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions NotBefore="${new Date(now.getTime() - 30_000).toISOString()}" NotOnOrAfter="${until}">` +
      `<saml:AudienceRestriction><saml:Audience>${i.audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="${i.sessionIndex ?? '_s' + randomUUID()}"><saml:AuthnContext><saml:AuthnContextClassRef>` +
      `urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
      `<saml:AttributeStatement><saml:Attribute Name="groups">${groups}</saml:Attribute></saml:AttributeStatement>` +
      `</saml:Assertion></samlp:Response>`
    const sign = i.sign ?? 'assertion'
    if (sign === 'none') return xml
    const target = sign === 'assertion' ? "//*[local-name(.)='Assertion']" : "/*[local-name(.)='Response']"
    const sig = new SignedXml({
      privateKey: privateKeyPem,
      signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
      canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
    })
    sig.addReference({
      xpath: target,
      digestAlgorithm: i.digest === 'sha1' ? 'http://www.w3.org/2000/09/xmldsig#sha1' : 'http://www.w3.org/2001/04/xmlenc#sha256',
      transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    })
    sig.computeSignature(xml, { location: { reference: `${target}/*[local-name(.)='Issuer']`, action: 'after' } })
    return sig.getSignedXml()
  }
}
