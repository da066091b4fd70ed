/**
 * A minimal SAML 2.0 identity provider for tests: builds Responses and signs the assertion (or the whole
 * response) with RSA-SHA256 through xml-crypto, the way real IdPs do, so the SP's verification is exercised
 * against genuine XML signatures.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { inflateRawSync } from 'node:zlib'
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
}

export class TestSamlIdp {
  readonly entityId = 'https://idp.corp.example/saml'
  readonly ssoUrl = 'https://idp.corp.example/sso'
  private readonly keys = generateKeyPairSync('rsa', { modulusLength: 2048 })
  readonly publicKeyPem = this.keys.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  readonly privateKeyPem = this.keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

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
      `<saml:AuthnStatement AuthnInstant="${now.toISOString()}"><saml:AuthnContext><saml:AuthnContextClassRef>` +
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
      digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
      transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    })
    sig.computeSignature(xml, { location: { reference: `${target}/*[local-name(.)='Issuer']`, action: 'after' } })
    return sig.getSignedXml()
  }
}
