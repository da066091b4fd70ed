/**
 * A self-signed X.509 v3 certificate built with node:crypto alone: a small DER encoder for the few ASN.1
 * types a certificate needs, a TBSCertificate around the key's SubjectPublicKeyInfo, signed with the key
 * itself (RSA: sha256WithRSAEncryption; EC P-256: ecdsa-with-SHA256). Used for the SAML SP signing key, whose
 * certificate only carries the public key to the IdP (no chain, no revocation): subject = issuer = one common
 * name, critical basicConstraints (not a CA) and keyUsage digitalSignature.
 */
import { createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto'

/** DER building blocks (definite lengths, minimal integers). */
export const der = {
  tlv(tag: number, ...content: Buffer[]): Buffer {
    const body = Buffer.concat(content)
    const n = body.length
    if (n < 0x80) return Buffer.concat([Buffer.from([tag, n]), body])
    const len: number[] = []
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v % 256)
    return Buffer.concat([Buffer.from([tag, 0x80 | len.length, ...len]), body])
  },
  seq: (...items: Buffer[]) => der.tlv(0x30, ...items),
  set: (...items: Buffer[]) => der.tlv(0x31, ...items),
  /** A non-negative integer from big-endian bytes or a small number. */
  int(value: Buffer | number): Buffer {
    const hex = typeof value === 'number' ? value.toString(16) : ''
    let b = typeof value === 'number' ? Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex') : value
    let i = 0
    while (i < b.length - 1 && b[i] === 0 && b[i + 1]! < 0x80) i++
    b = b.subarray(i)
    return der.tlv(0x02, b[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b)
  },
  oid(dotted: string): Buffer {
    const arcs = dotted.split('.').map(Number)
    const out = [40 * arcs[0]! + arcs[1]!]
    for (const arc of arcs.slice(2)) {
      const chunk = [arc & 0x7f]
      for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f))
      out.push(...chunk)
    }
    return der.tlv(0x06, Buffer.from(out))
  },
  null: () => Buffer.from([0x05, 0x00]),
  bool: (v: boolean) => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]),
  utf8: (s: string) => der.tlv(0x0c, Buffer.from(s, 'utf8')),
  octets: (b: Buffer) => der.tlv(0x04, b),
  /** A BIT STRING of whole bytes, or of `bits` leading bits of `b`. */
  bits: (b: Buffer, unused = 0) => der.tlv(0x03, Buffer.from([unused]), b),
  /** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5); whole seconds, UTC. */
  time(d: Date): Buffer {
    const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z' // YYYYMMDDHHMMSSZ
    return d.getUTCFullYear() < 2050 && d.getUTCFullYear() >= 1950 ? der.tlv(0x17, Buffer.from(iso.slice(2))) : der.tlv(0x18, Buffer.from(iso))
  },
  explicit: (n: number, ...content: Buffer[]) => der.tlv(0xa0 + n, ...content),
}

const SHA256_RSA = '1.2.840.113549.1.1.11'
const ECDSA_SHA256 = '1.2.840.10045.4.3.2'
const COMMON_NAME = '2.5.4.3'

export interface CertificateInput {
  privateKey: KeyObject
  commonName: string
  notBefore: Date
  notAfter: Date
  /** positive, at most 20 bytes as encoded; random (127 bits) when left out */
  serial?: Buffer
}

/** A self-signed certificate for the key, as DER. */
export function selfSignedCertificate(i: CertificateInput): Buffer {
  const type = i.privateKey.asymmetricKeyType
  if (type !== 'rsa' && type !== 'ec') throw new Error(`unsupported key type ${type}`)
  const algorithm = type === 'rsa' ? der.seq(der.oid(SHA256_RSA), der.null()) : der.seq(der.oid(ECDSA_SHA256))
  const serial = i.serial ?? randomBytes(16)
  if (!i.serial) serial[0] = (serial[0]! & 0x7f) | 0x01
  if (serial.length > 20 || (serial.length === 20 && serial[0]! >= 0x80) || serial.every((b) => b === 0)) {
    throw new Error('serial: a positive integer of at most 20 bytes')
  }
  const name = der.seq(der.set(der.seq(der.oid(COMMON_NAME), der.utf8(i.commonName))))
  const spki = createPublicKey(i.privateKey).export({ type: 'spki', format: 'der' })
  const extensions = der.explicit(
    3,
    der.seq(
      der.seq(der.oid('2.5.29.19'), der.bool(true), der.octets(der.seq())), // basicConstraints: cA false
      der.seq(der.oid('2.5.29.15'), der.bool(true), der.octets(der.bits(Buffer.from([0x80]), 7))), // keyUsage: digitalSignature
    ),
  )
  const tbs = der.seq(
    der.explicit(0, der.int(2)), // v3
    der.int(serial),
    algorithm,
    name,
    der.seq(der.time(i.notBefore), der.time(i.notAfter)),
    name,
    spki,
    extensions,
  )
  const signature = sign('sha256', tbs, i.privateKey) // RSA: PKCS#1 v1.5; EC: DER-encoded (r, s)
  return der.seq(tbs, algorithm, der.bits(signature))
}

export const toPem = (certDer: Buffer): string =>
  `-----BEGIN CERTIFICATE-----\n${certDer.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`
