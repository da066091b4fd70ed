/**
 * SAML protocol messages on the two front-channel bindings, with their signatures.
 *
 * HTTP-Redirect (SAML bindings §3.4.4.1): the message is DEFLATEd and base64-encoded into `SAMLRequest` or
 * `SAMLResponse`; a signature covers the octets `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as they appear
 * in the URL (still URL-encoded), so incoming values are verified in the encoding the sender chose and never
 * re-encoded. We sign with RSA-SHA256 and accept RSA-SHA256/512.
 *
 * HTTP-POST: the message is base64 in a form field and carries an enveloped XML signature over its root
 * element (RSA-SHA256/512, SHA-256/512 reference digests); everything read afterwards comes from the signed bytes.
 *
 * The IdP's key is only ever the configured certificate or public key; KeyInfo in a message is ignored.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import type { Element } from '@xmldom/xmldom'
import { SignedXml } from 'xml-crypto'
import { checkAlgorithms, kids, NS_DS, NS_P, parse, refuse, SamlError } from './saml-xml.js'

export const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256'
const DIGESTS: Record<string, string> = { [RSA_SHA256]: 'sha256', 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'sha512' }
/** Inflated messages larger than this are refused (a deflate bomb stops here). */
const MAX_XML_BYTES = 256 * 1024

/** encodeURIComponent, and the five characters it leaves alone too, so the URL parser never re-encodes them. */
const enc = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
const formDecode = (v: string): string => {
  try {
    return decodeURIComponent(v.replace(/\+/g, '%20'))
  } catch {
    return refuse('a query parameter is not validly percent-encoded', 'malformed')
  }
}

/** The URL that carries `xml` to `target` on the redirect binding, signed when a key is given. */
export function redirectUrl(target: string, param: 'SAMLRequest' | 'SAMLResponse', xml: string, relayState: string | undefined, key?: KeyObject): string {
  let query = `${param}=${enc(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'))}`
  if (relayState !== undefined) query += `&RelayState=${enc(relayState)}`
  if (key) {
    query += `&SigAlg=${enc(RSA_SHA256)}`
    query += `&Signature=${enc(sign('sha256', Buffer.from(query, 'utf8'), key).toString('base64'))}`
  }
  const url = new URL(target)
  url.search = url.search ? `${url.search.slice(1)}&${query}` : query
  return url.href
}

/** The configured IdP certificate (PEM) or public key (PEM), as a key; unreadable is a refusal, not a crash. */
export function idpKey(certificate: string): KeyObject {
  try {
    return createPublicKey(certificate)
  } catch {
    return refuse('the configured IdP certificate cannot be read: no signature can be verified', 'bad_signature')
  }
}

/** The query's parameters, values still URL-encoded as received; a repeated SAML parameter is refused. */
function rawParams(url: string): Map<string, string> {
  const q = url.indexOf('?')
  const out = new Map<string, string>()
  if (q < 0) return out
  for (const part of url.slice(q + 1).split('&')) {
    if (!part) continue
    const eq = part.indexOf('=')
    const name = formDecode(eq < 0 ? part : part.slice(0, eq))
    if (out.has(name)) refuse(`${name} appears twice`, 'malformed')
    out.set(name, eq < 0 ? '' : part.slice(eq + 1))
  }
  return out
}

export interface Received {
  /** the message's root element */
  root: Element
  relayState?: string
}

/** A redirect-binding message: the signature over the raw query is checked before the XML is even parsed. */
export function fromRedirect(url: string, param: 'SAMLRequest' | 'SAMLResponse', certificate: string): Received {
  const raw = rawParams(url)
  const message = raw.get(param) ?? refuse(`${param} is missing`, 'malformed')
  const sigAlg = raw.get('SigAlg')
  const signature = raw.get('Signature')
  if (!signature || !sigAlg) refuse('the message is not signed (Signature and SigAlg are required)', 'unsigned')
  const alg = formDecode(sigAlg!)
  const digest = DIGESTS[alg] ?? refuse(`signature algorithm ${alg} is not allowed (RSA-SHA256 or RSA-SHA512)`, 'signature_algorithm')
  const relay = raw.get('RelayState')
  const octets = `${param}=${message}${relay !== undefined ? `&RelayState=${relay}` : ''}&SigAlg=${sigAlg}`
  const key = idpKey(certificate)
  let ok = false
  try {
    ok = verify(digest, Buffer.from(octets, 'utf8'), key, Buffer.from(formDecode(signature!), 'base64'))
  } catch {
    // a signature that does not even fit the key
  }
  if (!ok) refuse('the signature does not verify with the IdP certificate', 'bad_signature')
  let xml: string
  try {
    xml = inflateRawSync(Buffer.from(formDecode(message), 'base64'), { maxOutputLength: MAX_XML_BYTES }).toString('utf8')
  } catch {
    return refuse(`${param} is not a DEFLATEd message (or is too large)`, 'malformed')
  }
  return { root: parse(xml), ...(relay !== undefined ? { relayState: formDecode(relay) } : {}) }
}

/** A POST-binding message: one enveloped XML signature over the root element, which is re-read from the signed bytes. */
export function fromPost(message: string, expected: 'LogoutRequest' | 'LogoutResponse', certificate: string): Element {
  const xml = Buffer.from(message, 'base64').toString('utf8')
  if (xml.length > MAX_XML_BYTES) refuse('the message is too large', 'malformed')
  const root = parse(xml)
  if (root.localName !== expected || root.namespaceURI !== NS_P) refuse(`not a ${expected}`, 'malformed')
  const signature = kids(root, NS_DS, 'Signature')[0] ?? refuse('the message is not signed (no enveloped XML signature)', 'unsigned')
  const key = idpKey(certificate)
  const sig = new SignedXml({ publicCert: key.export({ type: 'spki', format: 'pem' }).toString(), getCertFromKeyInfo: () => null })
  let signed: Element | undefined
  try {
    sig.loadSignature(signature as unknown as globalThis.Node)
    checkAlgorithms(sig)
    const ok = sig.checkSignature(xml)
    const refs = sig.getSignedReferences()
    if (ok && refs.length === 1) signed = parse(refs[0]!)
  } catch (e) {
    if (e instanceof SamlError && e.reason === 'signature_algorithm') throw e
  }
  if (!signed || signed.localName !== expected || signed.namespaceURI !== NS_P || signed.getAttribute('ID') !== root.getAttribute('ID')) {
    return refuse('the signature does not verify with the IdP certificate, or does not cover the message', 'bad_signature')
  }
  return signed
}
