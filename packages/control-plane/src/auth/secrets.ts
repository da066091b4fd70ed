/**
 * Small crypto helpers: random tokens, SHA-256, constant-time comparison, and sealing secrets at rest with
 * the master key (AES-256-GCM; the purpose string is bound as associated data so a sealed value cannot be
 * moved to another column).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'

export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url')

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const LOWER = 'abcdefghijkmnpqrstuvwxyz23456789'

/** Random string over an alphabet without `_` or `-` (so it can sit between `_` separators). */
export function randomAlnum(length: number, lower = false): string {
  const alphabet = lower ? LOWER : ALNUM
  let s = ''
  for (let i = 0; i < length; i++) s += alphabet[randomInt(alphabet.length)]
  return s
}

export const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest()

export function safeEqual(a: string, b: string): boolean {
  const ha = sha256(a)
  const hb = sha256(b)
  return timingSafeEqual(ha, hb)
}

export class Sealer {
  private readonly key: Buffer
  constructor(masterKeyB64: string) {
    this.key = Buffer.from(masterKeyB64, 'base64')
    if (this.key.length !== 32) throw new Error('master key must be 32 bytes')
  }

  seal(plaintext: string, purpose: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    cipher.setAAD(Buffer.from(purpose))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
  }

  open(sealed: string, purpose: string): string {
    const [v, iv, body, tag] = sealed.split('.')
    if (v !== 'v1' || !iv || !body || !tag) throw new Error('sealed value has an unknown format')
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
    decipher.setAAD(Buffer.from(purpose))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
  }
}
