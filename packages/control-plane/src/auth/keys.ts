/**
 * Token-signing keys (ES256) and the JWKS. The newest key whose `not_before` has passed signs; a rotation
 * inserts a key that is published at once but signs only after `prepublish` seconds, and gives the old key an
 * `expires_at` after its last token has expired, so old and new keys overlap in the JWKS. Private keys are
 * sealed with the master key. Replicas share the table and re-read it every few seconds or on an unknown kid.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'
import { audit } from '../audit/record.js'
import type { Clock } from '../clock.js'
import type { Db } from '../db/pool.js'
import type { Sealer } from './secrets.js'

export const ALG = 'ES256'
const SEAL_PURPOSE = 'cfp-control/signing-key'
const CACHE_MS = 5_000
/** Extra time an old key stays published after its last possible token expired (clock skew). */
const SKEW_S = 60

interface KeyRow {
  kid: string
  public_jwk: JWK
  private_enc: string
  not_before: Date
  expires_at: Date | null
}

type KeyLike = Awaited<ReturnType<typeof importJWK>>

export interface KeyOptions {
  accessTokenTtl: number
  rotationInterval: number
  prepublish: number
}

export class SigningKeys {
  private cache: { at: number; rows: KeyRow[] } | undefined
  private lastMissReload = 0
  private readonly imported = new Map<string, KeyLike>()

  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    private readonly clock: Clock,
    private readonly opts: KeyOptions,
  ) {}

  private async rows(force = false): Promise<KeyRow[]> {
    const now = this.clock.now()
    if (!force && this.cache && now - this.cache.at < CACHE_MS) return this.cache.rows
    const { rows } = await this.db.query<KeyRow>(
      `SELECT kid, public_jwk, private_enc, not_before, expires_at FROM signing_keys
        WHERE expires_at IS NULL OR expires_at > $1 ORDER BY not_before DESC`,
      [new Date(now)],
    )
    this.cache = { at: now, rows }
    return rows
  }

  /** Creates the first key when there is none that can sign now. */
  async ensureKey(): Promise<void> {
    await this.db.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtext('cfp_control_keys'))")
      const now = new Date(this.clock.now())
      const { rowCount } = await c.query('SELECT 1 FROM signing_keys WHERE not_before <= $1 AND (expires_at IS NULL OR expires_at > $1)', [now])
      if (!rowCount) await this.insertKey(c, now)
    })
    this.cache = undefined
  }

  /** Starts a rotation: returns the new kid; it signs after `prepublishSeconds`. */
  async rotate(
    prepublishSeconds = this.opts.prepublish,
    /** runs in the rotation's transaction (its audit entry) */
    within?: (c: Pick<Db, 'query'>, kid: string) => Promise<void>,
  ): Promise<{ kid: string; notBefore: Date }> {
    const result = await this.db.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtext('cfp_control_keys'))")
      const notBefore = new Date(this.clock.now() + prepublishSeconds * 1000)
      const retireAt = new Date(notBefore.getTime() + (this.opts.accessTokenTtl + SKEW_S) * 1000)
      await c.query('UPDATE signing_keys SET expires_at = $1 WHERE expires_at IS NULL', [retireAt])
      const kid = await this.insertKey(c, notBefore)
      await within?.(c, kid)
      return { kid, notBefore }
    })
    this.cache = undefined
    return result
  }

  /** Rotates when the signing key is older than the rotation interval (called periodically). */
  async maybeRotate(): Promise<boolean> {
    if (this.opts.rotationInterval <= 0) return false
    const rows = await this.rows(true)
    const newest = rows[0]
    if (newest && this.clock.now() - newest.not_before.getTime() < this.opts.rotationInterval * 1000) return false
    await this.rotate(this.opts.prepublish, (c, kid) =>
      audit({ clock: this.clock }, c, undefined, {
        kind: 'signing_key.rotate',
        actor: { type: 'system', id: null, name: 'key rotation schedule', auth: 'system' },
        target: { type: 'signing_key', id: kid },
        details: { kid, scheduled: true },
      }),
    )
    return true
  }

  private async insertKey(c: Pick<Db, 'query'>, notBefore: Date): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true })
    const pub = await exportJWK(publicKey)
    const kid = await calculateJwkThumbprint(pub)
    const publicJwk = { ...pub, kid, alg: ALG, use: 'sig' }
    const privateEnc = this.sealer.seal(JSON.stringify(await exportJWK(privateKey)), SEAL_PURPOSE)
    await c.query('INSERT INTO signing_keys (kid, alg, public_jwk, private_enc, not_before) VALUES ($1, $2, $3, $4, $5)', [
      kid,
      ALG,
      publicJwk,
      privateEnc,
      notBefore,
    ])
    return kid
  }

  /** The JWKS: every key that may have signed a live token or is about to sign. */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: (await this.rows()).map((r) => r.public_jwk) }
  }

  /** The key that signs now. */
  async signer(): Promise<{ kid: string; key: KeyLike }> {
    const now = this.clock.now()
    const pick = (rows: KeyRow[]) => rows.find((r) => r.not_before.getTime() <= now)
    const row = pick(await this.rows()) ?? pick(await this.rows(true))
    if (!row) throw new Error('no signing key: ensureKey() was not called')
    const cacheKey = 'private:' + row.kid
    let key = this.imported.get(cacheKey)
    if (!key) {
      key = await importJWK(JSON.parse(this.sealer.open(row.private_enc, SEAL_PURPOSE)) as JWK, ALG)
      this.imported.set(cacheKey, key)
    }
    return { kid: row.kid, key }
  }

  /** The public key for a kid, if it is published (re-reads the table at most once a second on a miss). */
  async verificationKey(kid: string): Promise<KeyLike | undefined> {
    let row = (await this.rows()).find((r) => r.kid === kid)
    if (!row && this.clock.now() - this.lastMissReload > 1_000) {
      this.lastMissReload = this.clock.now()
      row = (await this.rows(true)).find((r) => r.kid === kid)
    }
    if (!row || (row.expires_at && row.expires_at.getTime() <= this.clock.now())) return undefined
    let key = this.imported.get('public:' + kid)
    if (!key) {
      key = await importJWK(row.public_jwk, ALG)
      this.imported.set('public:' + kid, key)
    }
    return key
  }
}
