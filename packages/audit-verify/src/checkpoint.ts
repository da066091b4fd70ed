// Checkpoints (docs/audit.md "Checkpoints"): the C2SP tlog-checkpoint body wrapped in a C2SP signed note, signed
// with Ed25519 by a dedicated audit key; verifier keys in the signed-note form `name+keyid+base64(0x01||key)`.
import { type KeyObject, createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'

export interface PublicAuditKey {
  /** `cfp-audit-<plane>-<n>` */
  name: string
  /** 32 bytes, raw Ed25519 public key */
  publicKey: Buffer
  /** RFC 3339 time the key stopped signing, if it was rotated out */
  retired?: string | null
}

export interface Checkpoint {
  origin: string
  size: number
  root: Buffer
}

const KEY_NAME = /^[^\s+\u2014]{1,200}$/
const DASH = '\u2014 '

/** `<origin>\n<size>\n<base64 root>\n`. */
export function checkpointBody(origin: string, size: number, root: Buffer): string {
  if (origin.length === 0 || /[\n\r]/.test(origin)) throw new RangeError('origin must be one non-empty line')
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('size must be a non-negative safe integer')
  if (root.length !== 32) throw new RangeError('root must be 32 bytes')
  return `${origin}\n${size}\n${root.toString('base64')}\n`
}

/** The first 4 bytes of SHA-256(name || "\n" || 0x01 || public key). */
export function keyId(name: string, publicKey: Buffer): Buffer {
  return createHash('sha256')
    .update(name)
    .update('\n')
    .update(Buffer.from([1]))
    .update(publicKey)
    .digest()
    .subarray(0, 4)
}

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')

/** An Ed25519 private key from its 32-byte seed. */
export function privateKeyFromSeed(seed: Buffer): KeyObject {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes')
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' })
}

/** The raw 32-byte public key of an Ed25519 private or public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  const jwk = pub.export({ format: 'jwk' })
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 key')
  return Buffer.from(jwk.x, 'base64url')
}

function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' })
}

/** The signed note: body, an empty line, `— <name> <base64(key id || signature)>`. */
export function signCheckpoint(body: string, name: string, privateKey: KeyObject): string {
  if (!KEY_NAME.test(name)) throw new RangeError('a key name has no spaces, + or em dash')
  if (!body.endsWith('\n')) throw new RangeError('a note body ends with a newline')
  const sig = sign(null, Buffer.from(body, 'utf8'), privateKey)
  const id = keyId(name, rawPublicKey(privateKey))
  return `${body}\n${DASH}${name} ${Buffer.concat([id, sig]).toString('base64')}\n`
}

/** `<name>+<key id hex>+<base64(0x01 || public key)>`. */
export function formatVerifierKey(name: string, publicKey: Buffer): string {
  if (!KEY_NAME.test(name)) throw new RangeError('a key name has no spaces, + or em dash')
  if (publicKey.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes')
  return `${name}+${keyId(name, publicKey).toString('hex')}+${Buffer.concat([Buffer.from([1]), publicKey]).toString('base64')}`
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function b64(s: string): Buffer | null {
  return B64.test(s) ? Buffer.from(s, 'base64') : null
}

/** Parses a verifier key; null when it is not one (bad form, wrong algorithm byte, or a key id that does not match). */
export function parseVerifierKey(text: string): PublicAuditKey | null {
  if (typeof text !== 'string') return null
  // The base64 key data may itself contain '+': split at the first two only.
  const t = text.trim()
  const a = t.indexOf('+')
  const b = a < 0 ? -1 : t.indexOf('+', a + 1)
  if (b < 0) return null
  const [name, idHex, data] = [t.slice(0, a), t.slice(a + 1, b), t.slice(b + 1)]
  if (!KEY_NAME.test(name) || !/^[0-9a-f]{8}$/.test(idHex)) return null
  const raw = b64(data)
  if (raw?.length !== 33 || raw[0] !== 1) return null
  const publicKey = raw.subarray(1)
  if (keyId(name, publicKey).toString('hex') !== idHex) return null
  return { name, publicKey: Buffer.from(publicKey) }
}

/** Parses a checkpoint body (exactly three lines); null when malformed. */
export function parseCheckpointBody(body: string): Checkpoint | null {
  const lines = body.split('\n')
  if (lines.length !== 4 || lines[3] !== '') return null
  const [origin, sizeText, rootText] = lines as [string, string, string]
  if (origin.length === 0 || origin.length > 256 || /[\r\u0000-\u001f]/.test(origin)) return null
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText)) return null
  const size = Number(sizeText)
  if (!Number.isSafeInteger(size)) return null
  const root = b64(rootText)
  if (root?.length !== 32) return null
  return { origin, size, root }
}

export interface NoteCheck {
  checkpoint: Checkpoint | null
  /** why the note was refused, when checkpoint is null */
  problem?: string
  /** names of the known keys whose signatures verified */
  signedBy: string[]
}

/**
 * Verifies a signed note against known keys. It holds when at least one signature by a known key (same name and key
 * id) verifies and no signature by a known key fails; signatures by unknown keys are ignored (C2SP signed-note).
 */
export function checkNote(note: string, keys: PublicAuditKey[]): NoteCheck {
  const fail = (problem: string): NoteCheck => ({ checkpoint: null, problem, signedBy: [] })
  if (typeof note !== 'string' || note.length > 64 * 1024) return fail('not a note of at most 64 KiB')
  const cut = note.lastIndexOf('\n\n')
  if (cut < 0 || !note.endsWith('\n')) return fail('no empty line before the signatures')
  const body = note.slice(0, cut + 1)
  const sigLines = note.slice(cut + 2, -1).split('\n')
  const known = new Map<string, PublicAuditKey>()
  for (const k of keys) if (k) known.set(`${k.name} ${keyId(k.name, k.publicKey).toString('hex')}`, k)
  const signedBy: string[] = []
  for (const line of sigLines) {
    if (!line.startsWith(DASH)) return fail('a signature line does not start with an em dash')
    const rest = line.slice(DASH.length)
    const sp = rest.lastIndexOf(' ')
    if (sp <= 0) return fail('a signature line has no key name')
    const name = rest.slice(0, sp)
    const raw = b64(rest.slice(sp + 1))
    if (!KEY_NAME.test(name) || !raw || raw.length < 5) return fail('a signature line is malformed')
    const key = known.get(`${name} ${raw.subarray(0, 4).toString('hex')}`)
    if (!key) continue
    let ok = false
    try {
      ok = raw.length === 68 && verify(null, Buffer.from(body, 'utf8'), publicKeyObject(key.publicKey), raw.subarray(4))
    } catch {
      ok = false
    }
    if (!ok) return fail(`the signature by ${name} does not verify`)
    signedBy.push(name)
  }
  if (signedBy.length === 0) return fail('no signature by a known key')
  const checkpoint = parseCheckpointBody(body)
  if (!checkpoint) return fail('the body is not origin, size, base64 root')
  return { checkpoint, signedBy }
}

/** The checkpoint a signed note carries, or null when it is malformed or not validly signed by one of `keys`. */
export function verifyCheckpoint(note: string, keys: PublicAuditKey[]): Checkpoint | null {
  return checkNote(note, keys).checkpoint
}
