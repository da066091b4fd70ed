// RFC 3161 time-stamp responses, read just far enough to check an anchor (docs/audit.md "Anchors"): the response is
// granted, its TSTInfo's message imprint is the anchor digest (SHA-256),
// the CMS signature over the signed attributes verifies with a certificate the token carries, the signed
// messageDigest attribute is the hash of the TSTInfo, and (when the caller pins TSA certificates) that certificate is
// one of them or issued by one. A small DER reader; anything unexpected is a refusal, never a throw.
import { X509Certificate, createHash, verify } from 'node:crypto'

interface Tlv {
  tag: number
  /** offset of the tag byte */
  at: number
  /** offset of the content */
  start: number
  /** offset after the content */
  end: number
}

class DerError extends Error {}

function tlv(b: Buffer, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new DerError('truncated')
  const tag = b[at]!
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used here')
  let len = b[at + 1]!
  let start = at + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4 || start + n > limit) throw new DerError('bad length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!
    start += n
  }
  const end = start + len
  if (end > limit) throw new DerError('content runs past its container')
  return { tag, at, start, end }
}

function children(b: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = []
  let at = t.start
  while (at < t.end) {
    const c = tlv(b, at, t.end)
    out.push(c)
    at = c.end
    if (out.length > 64) throw new DerError('too many elements')
  }
  return out
}

function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`${what} missing`)
  return t
}

function oid(b: Buffer, t: Tlv): string {
  if (t.tag !== 0x06 || t.end === t.start) throw new DerError('not an OID')
  const parts: number[] = []
  let v = 0
  for (let i = t.start; i < t.end; i++) {
    v = v * 128 + (b[i]! & 0x7f)
    if (!(b[i]! & 0x80)) {
      parts.push(v)
      v = 0
    }
  }
  const first = parts.shift()!
  return [first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80, ...parts].join('.')
}

const DIGESTS: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
}
const SIGNED_DATA = '1.2.840.113549.1.7.2'
const TST_INFO = '1.2.840.113549.1.9.16.1.4'
const MESSAGE_DIGEST = '1.2.840.113549.1.9.4'
const ED25519 = '1.3.101.112'
const TIME_STAMPING = '1.3.6.1.5.5.7.3.8'

export interface TimestampCheck {
  ok: boolean
  problem?: string
  /** TSTInfo genTime as written (GeneralizedTime) */
  genTime?: string
  /** the signing certificate's subject */
  tsa?: string
}

/**
 * Checks a DER TimeStampResp (or a bare TimeStampToken) against the anchor digest (32 bytes, the SHA-256 imprint).
 * `trusted`: PEM or DER certificates of the TSA or its issuers; when empty, the embedded signer certificate is
 * accepted as it is (the result then proves only that the token is internally consistent).
 */
export function checkTimestamp(der: Buffer, digest: Buffer, trusted: X509Certificate[] = []): TimestampCheck {
  try {
    return check(der, digest, trusted)
  } catch (e) {
    return { ok: false, problem: e instanceof DerError ? `malformed time-stamp response: ${e.message}` : `time-stamp check failed: ${(e as Error).message}` }
  }
}

function check(b: Buffer, digest: Buffer, trusted: X509Certificate[]): TimestampCheck {
  if (b.length > 1024 * 1024) throw new DerError('larger than 1 MiB')
  const top = tlv(b, 0, b.length)
  expectTag(top, 0x30, 'TimeStampResp')
  let items = children(b, top)
  // A TimeStampResp starts with PKIStatusInfo (a SEQUENCE); a bare ContentInfo starts with an OID.
  let token: Tlv = top
  if (items[0]?.tag === 0x30) {
    const status = children(b, items[0])[0]
    expectTag(status, 0x02, 'status')
    const value = b.subarray(status!.start, status!.end)
    if (value.length !== 1 || value[0]! > 1) return { ok: false, problem: 'the time-stamp response was not granted' }
    token = expectTag(items[1], 0x30, 'timeStampToken')
    items = children(b, token)
  }
  if (oid(b, expectTag(items[0], 0x06, 'contentType')) !== SIGNED_DATA) throw new DerError('not CMS signed data')
  const signedData = expectTag(children(b, expectTag(items[1], 0xa0, 'content'))[0], 0x30, 'SignedData')
  const sd = children(b, signedData)
  const encap = children(b, expectTag(sd[2], 0x30, 'encapContentInfo'))
  if (oid(b, expectTag(encap[0], 0x06, 'eContentType')) !== TST_INFO) throw new DerError('the token does not hold a TSTInfo')
  const eContent = expectTag(children(b, expectTag(encap[1], 0xa0, 'eContent'))[0], 0x04, 'eContent octets')
  const tstInfoBytes = b.subarray(eContent.start, eContent.end)
  // TSTInfo: version, policy, messageImprint, serialNumber, genTime, ...
  const tst = children(tstInfoBytes, expectTag(tlv(tstInfoBytes, 0, tstInfoBytes.length), 0x30, 'TSTInfo'))
  const imprint = children(tstInfoBytes, expectTag(tst[2], 0x30, 'messageImprint'))
  const imprintAlg = oid(tstInfoBytes, children(tstInfoBytes, expectTag(imprint[0], 0x30, 'hashAlgorithm'))[0]!)
  const hashed = expectTag(imprint[1], 0x04, 'hashedMessage')
  if (imprintAlg !== '2.16.840.1.101.3.4.2.1') return { ok: false, problem: 'the message imprint is not SHA-256' }
  if (!tstInfoBytes.subarray(hashed.start, hashed.end).equals(digest)) return { ok: false, problem: 'the time-stamp token is for another digest' }
  const gen = expectTag(tst[4], 0x18, 'genTime')
  const genTime = tstInfoBytes.subarray(gen.start, gen.end).toString('latin1')

  let idx = 3
  const certs: X509Certificate[] = []
  if (sd[idx]?.tag === 0xa0) {
    for (const c of children(b, sd[idx]!)) if (c.tag === 0x30) certs.push(new X509Certificate(b.subarray(c.at, c.end)))
    idx++
  }
  if (sd[idx]?.tag === 0xa1) idx++
  const signerInfos = children(b, expectTag(sd[idx], 0x31, 'signerInfos'))
  const si = children(b, expectTag(signerInfos[0], 0x30, 'SignerInfo'))
  const digestAlg = DIGESTS[oid(b, children(b, expectTag(si[2], 0x30, 'digestAlgorithm'))[0]!)]
  if (!digestAlg) return { ok: false, problem: 'the signer uses an unsupported digest' }
  const attrs = expectTag(si[3], 0xa0, 'signedAttrs')
  let messageDigest: Buffer | null = null
  for (const attr of children(b, attrs)) {
    const parts = children(b, attr)
    if (oid(b, parts[0]!) === MESSAGE_DIGEST) {
      const v = expectTag(children(b, expectTag(parts[1], 0x31, 'attribute values'))[0], 0x04, 'messageDigest')
      messageDigest = b.subarray(v.start, v.end)
    }
  }
  if (!messageDigest || !createHash(digestAlg).update(tstInfoBytes).digest().equals(messageDigest))
    return { ok: false, problem: 'the signed messageDigest is not the hash of the TSTInfo' }
  const sigAlg = oid(b, children(b, expectTag(si[4], 0x30, 'signatureAlgorithm'))[0]!)
  const sig = expectTag(si[5], 0x04, 'signature')
  const signed = Buffer.from(b.subarray(attrs.at, attrs.end))
  signed[0] = 0x31 // the signature is over the attributes as a SET OF
  const signature = b.subarray(sig.start, sig.end)
  const signer = certs.find((c) => {
    try {
      return verify(sigAlg === ED25519 ? null : digestAlg, signed, c.publicKey, signature)
    } catch {
      return false
    }
  })
  if (!signer) return { ok: false, problem: 'the time-stamp signature does not verify with a certificate the token carries' }
  if (!signer.keyUsage?.includes(TIME_STAMPING)) return { ok: false, problem: 'the signing certificate is not for time stamping' }
  if (trusted.length > 0) {
    const ok = trusted.some((t) => t.fingerprint256 === signer.fingerprint256 || (signer.checkIssued(t) && signer.verify(t.publicKey)))
    if (!ok) return { ok: false, problem: 'the time-stamping certificate is not one of the trusted ones' }
  }
  return { ok: true, genTime, tsa: signer.subject.replaceAll('\n', ', ') }
}
