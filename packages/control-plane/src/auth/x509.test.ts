/** The hand-built DER encoder and self-signed certificates, read back by Node's own X.509 parser. */
import { generateKeyPairSync, X509Certificate } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { der, selfSignedCertificate, toPem } from './x509.js'

const hex = (b: Buffer) => b.toString('hex')

describe('DER', () => {
  it('encodes integers minimally and positive', () => {
    expect(hex(der.int(0))).toBe('020100')
    expect(hex(der.int(2))).toBe('020102')
    expect(hex(der.int(127))).toBe('02017f')
    expect(hex(der.int(128))).toBe('02020080')
    expect(hex(der.int(256))).toBe('02020100')
    expect(hex(der.int(Buffer.from('000001', 'hex')))).toBe('020101')
    expect(hex(der.int(Buffer.from('0085', 'hex')))).toBe('02020085')
    expect(hex(der.int(Buffer.from('ff', 'hex')))).toBe('020200ff')
  })

  it('encodes object identifiers, lengths, times and bit strings', () => {
    expect(hex(der.oid('1.2.840.113549.1.1.11'))).toBe('06092a864886f70d01010b')
    expect(hex(der.oid('2.5.4.3'))).toBe('0603550403')
    expect(hex(der.tlv(0x04, Buffer.alloc(127))).slice(0, 4)).toBe('047f')
    expect(hex(der.tlv(0x04, Buffer.alloc(200))).slice(0, 6)).toBe('0481c8')
    expect(hex(der.tlv(0x04, Buffer.alloc(300))).slice(0, 8)).toBe('0482012c')
    expect(hex(der.tlv(0x04, Buffer.alloc(70_000))).slice(0, 10)).toBe('0483011170')
    expect(der.time(new Date('2049-12-31T23:59:59.900Z')).toString('latin1')).toBe('\x17\x0d491231235959Z')
    expect(der.time(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe('\x18\x0f20500101000000Z')
    expect(hex(der.bits(Buffer.from([0x80]), 7))).toBe('03020780')
    expect(hex(der.seq())).toBe('3000')
  })
})

describe('selfSignedCertificate', () => {
  const notBefore = new Date('2025-01-01T00:00:00Z')
  const notAfter = new Date('2035-01-01T00:00:00Z')

  it.each([
    ['RSA-2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['EC P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
  ])('builds a %s certificate Node parses and verifies', (_name, keys) => {
    const { privateKey, publicKey } = keys()
    const certDer = selfSignedCertificate({ privateKey, commonName: 'CFP SAML SP test', notBefore, notAfter, serial: Buffer.from('0102', 'hex') })
    const cert = new X509Certificate(toPem(certDer))
    expect(cert.raw.equals(certDer)).toBe(true)
    expect(cert.subject).toBe('CN=CFP SAML SP test')
    expect(cert.issuer).toBe('CN=CFP SAML SP test')
    expect(new Date(cert.validFrom).toISOString()).toBe(notBefore.toISOString())
    expect(new Date(cert.validTo).toISOString()).toBe(notAfter.toISOString())
    expect(cert.serialNumber.toLowerCase()).toBe('0102')
    expect(cert.ca).toBe(false)
    expect(cert.publicKey.export({ type: 'spki', format: 'der' }).equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true)
    expect(cert.verify(publicKey)).toBe(true)
  })

  it('signs with the key (another key does not verify) and draws a positive random serial', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const a = new X509Certificate(selfSignedCertificate({ privateKey, commonName: 'a', notBefore, notAfter }))
    const b = new X509Certificate(selfSignedCertificate({ privateKey, commonName: 'a', notBefore, notAfter }))
    expect(a.verify(other.publicKey)).toBe(false)
    expect(a.serialNumber).not.toBe(b.serialNumber)
    expect(a.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/)
    expect(() => selfSignedCertificate({ privateKey, commonName: 'a', notBefore, notAfter, serial: Buffer.alloc(2) })).toThrow(/serial/)
  })
})
