/**
 * XML helpers of the SAML modules: namespaces, a parser that refuses DTDs and malformed input, child lookups
 * by namespace, and the error every SAML refusal is (with a stable reason).
 */
import { DOMParser, type Element, type Node } from '@xmldom/xmldom'
import type { SignedXml } from 'xml-crypto'

export const NS_P = 'urn:oasis:names:tc:SAML:2.0:protocol'
export const NS_A = 'urn:oasis:names:tc:SAML:2.0:assertion'
export const NS_DS = 'http://www.w3.org/2000/09/xmldsig#'
export const ALLOWED_SIG = ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512']
/** Reference digests: SHA-1 is refused like RSA-SHA1 (a collision would let a signed reference stand for other bytes). */
export const ALLOWED_DIGEST = ['http://www.w3.org/2001/04/xmlenc#sha256', 'http://www.w3.org/2001/04/xmlenc#sha512']
export const SKEW_MS = 60_000

/** Why a SAML message was refused; single logout reports it as `details.reason` (stable values). */
export type SamlReason =
  | 'refused'
  | 'malformed'
  | 'unsigned'
  | 'signature_algorithm'
  | 'bad_signature'
  | 'wrong_issuer'
  | 'wrong_destination'
  | 'expired'
  | 'replayed'
  | 'unknown_request'
  | 'unsupported'

export class SamlError extends Error {
  constructor(
    message: string,
    readonly reason: SamlReason = 'refused',
  ) {
    super(message)
  }
}
export const refuse = (why: string, reason?: SamlReason): never => {
  throw new SamlError(why, reason)
}

/** The loaded XML signature's algorithms: RSA-SHA256/512 over SignedInfo, SHA-256/512 for every reference. */
export function checkAlgorithms(sig: SignedXml): void {
  if (!ALLOWED_SIG.includes(sig.signatureAlgorithm ?? '')) {
    refuse(`signature algorithm ${sig.signatureAlgorithm} is not allowed (RSA-SHA256 or RSA-SHA512)`, 'signature_algorithm')
  }
  const digests = sig.getReferences().map((r) => r.digestAlgorithm)
  if (digests.some((d) => !ALLOWED_DIGEST.includes(d)))
    refuse(`digest algorithm ${digests.join(', ')} is not allowed (SHA-256 or SHA-512)`, 'signature_algorithm')
}

export const esc = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

export function parse(xml: string): Element {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) refuse('DTDs are not accepted', 'malformed')
  let problem: string | undefined
  const parser = new DOMParser({
    onError: (level, msg) => {
      if (level === 'warning') return
      problem ??= msg
      throw new Error(msg) // xmldom wraps what this throws in its own ParseError: reported below as ours
    },
  })
  let root: Element | null | undefined
  try {
    root = parser.parseFromString(xml, 'text/xml').documentElement
  } catch {
    return refuse(`malformed XML: ${problem ?? 'unreadable'}`, 'malformed')
  }
  return root ?? refuse('empty document', 'malformed')
}

export function kids(el: Element | Node, ns: string, name: string): Element[] {
  const out: Element[] = []
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).localName === name && (n as Element).namespaceURI === ns) out.push(n as Element)
  }
  return out
}
export const one = (el: Element, ns: string, name: string): Element => {
  const found = kids(el, ns, name)
  return found.length === 1 ? found[0]! : refuse(`expected exactly one ${name}`, 'malformed')
}
export const text = (el: Element) => (el.textContent ?? '').trim()
export const time = (el: Element, attr: string): number | undefined => {
  const v = el.getAttribute(attr)
  if (!v) return undefined
  const t = Date.parse(v)
  return Number.isNaN(t) ? refuse(`bad ${attr}`, 'malformed') : t
}
