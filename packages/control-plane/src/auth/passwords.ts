/** Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane) via the prebuilt @node-rs/argon2. */
import { hash, verify, type Algorithm } from '@node-rs/argon2'

/** Argon2id; the package's `Algorithm` is a const enum, so its value is written out here. */
const ARGON2ID = 2 as Algorithm

const PARAMS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

export const MIN_PASSWORD_LENGTH = 12

export function hashPassword(password: string): Promise<string> {
  return hash(password, PARAMS)
}

/** A hash of a random password, verified against when the user does not exist, so timing tells nothing. */
let dummy: Promise<string> | undefined

export async function verifyPassword(stored: string | null | undefined, password: string): Promise<boolean> {
  if (!stored) {
    dummy ??= hashPassword('not-a-real-password-' + Math.random())
    await verify(await dummy, password).catch(() => false)
    return false
  }
  return verify(stored, password).catch(() => false)
}
