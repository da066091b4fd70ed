/**
 * The control plane's dedicated Ed25519 audit keys (never the token-signing key): `cfp-audit-control-<n>`, the
 * private key sealed with the master key like `signing_keys.private_enc`, the public key kept after rotation (with
 * `retired_at`) so old checkpoints still verify. Checkpoints are C2SP signed notes (docs/audit.md, Checkpoints).
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { checkpointBody, formatVerifierKey, keyId, rawPublicKey, signCheckpoint } from 'cfp-audit-verify'
import type { Clock } from '../clock.js'
import type { Db, Queryable } from '../db/pool.js'
import type { Sealer } from '../auth/secrets.js'

const SEAL_PURPOSE = 'audit_keys.private_enc'

export interface AuditKey {
  name: string
  keyId: Buffer
  publicKey: Buffer
  createdAt: Date
  retiredAt: Date | null
}

interface KeyRow {
  name: string
  key_id: Buffer
  public_key: Buffer
  private_enc: string
  created_at: Date
  retired_at: Date | null
}

/** The signed-note verifier-key form: `<name>+<key id hex>+<base64(0x01 || public key)>`. */
export const verifierKey = (k: { name: string; publicKey: Buffer }): string => formatVerifierKey(k.name, k.publicKey)

/** The checkpoint body of a chain: origin `cfp-audit/<chain>`, size, base64 root. */
export const chainCheckpointBody = (chain: string, size: number, root: Buffer): string => checkpointBody(`cfp-audit/${chain}`, size, root)

const toKey = (r: KeyRow): AuditKey => ({ name: r.name, keyId: r.key_id, publicKey: r.public_key, createdAt: r.created_at, retiredAt: r.retired_at })

export class AuditKeys {
  private signer: { key: AuditKey; privateKey: KeyObject } | undefined
  private signerAt = 0

  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    private readonly clock: Clock,
  ) {}

  /** Every key, current and retired, oldest first. */
  async list(q: Queryable = this.db): Promise<AuditKey[]> {
    const { rows } = await q.query<KeyRow>('SELECT * FROM audit_keys ORDER BY created_at, name')
    return rows.map(toKey)
  }

  /** The signing key (created on first use). */
  async current(): Promise<{ key: AuditKey; privateKey: KeyObject }> {
    const now = this.clock.now()
    // re-read at most every 30 s, so a rotation on another replica is followed within that
    if (this.signer && now - this.signerAt < 30_000) return this.signer
    const { rows } = await this.db.query<KeyRow>('SELECT * FROM audit_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1')
    const row = rows[0] ?? (await this.rotate(undefined, true))
    if (this.signer?.key.name !== row.name) {
      this.signer = { key: toKey(row), privateKey: createPrivateKey({ key: this.sealer.open(row.private_enc, SEAL_PURPOSE), format: 'pem' }) }
    }
    this.signerAt = now
    return this.signer
  }

  /**
   * Adds a new key and retires the current one (its public key stays for verification); `within` runs in the same
   * transaction (the rotation's audit entry). `onlyIfNone`: create the first key unless one exists.
   */
  async rotate(within?: (c: Queryable, name: string, retired: string[]) => Promise<void>, onlyIfNone = false): Promise<KeyRow> {
    const row = await this.db.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtext('cfp_audit_keys:' || current_schema()))")
      if (onlyIfNone) {
        // the first key: another replica may have created it meanwhile
        const live = await c.query<KeyRow>('SELECT * FROM audit_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1')
        if (live.rows[0]) return live.rows[0]
      }
      const now = new Date(this.clock.now())
      const { rows: n } = await c.query<{ n: number }>("SELECT coalesce(max(substring(name FROM '[0-9]+$')::int), 0) + 1 AS n FROM audit_keys")
      const name = `cfp-audit-control-${n[0]!.n}`
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      const pub = rawPublicKey(publicKey)
      const retired = await c.query<{ name: string }>('UPDATE audit_keys SET retired_at = $1 WHERE retired_at IS NULL RETURNING name', [now])
      const { rows } = await c.query<KeyRow>(
        'INSERT INTO audit_keys (name, key_id, public_key, private_enc, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING *',
        [name, keyId(name, pub), pub, this.sealer.seal(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), SEAL_PURPOSE), now],
      )
      await within?.(
        c,
        name,
        retired.rows.map((r) => r.name),
      )
      return rows[0]!
    })
    this.signer = undefined
    return row
  }

  /** Signs a checkpoint body into a C2SP signed note with the current key. */
  async signNote(body: string): Promise<{ note: string; keyName: string }> {
    const { key, privateKey } = await this.current()
    return { note: signCheckpoint(body, key.name, privateKey), keyName: key.name }
  }
}
