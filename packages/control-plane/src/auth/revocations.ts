/**
 * The revocation feed. Every revocation is a row with a growing `seq`; runtimes poll
 * `GET /v1/service/revocations?since=<seq>` (optionally long-polling with `wait`) and drop a row after its
 * `expiresAt`, when no token it could match is still alive. The control plane checks the same rows on every
 * request, so a revocation is effective here at once and on every runtime replica within one poll interval.
 */
import type { Clock } from '../clock.js'
import type { Db, Queryable } from '../db/pool.js'
import { MAX_ACCESS_TTL, type AccessClaims } from './access.js'

export type RevocationKind = 'session' | 'user' | 'token' | 'credential'

export interface Revocation {
  seq: number
  kind: RevocationKind
  subject: string
  /** 'user' rows: tokens whose `iat` (seconds) is <= floor(issuedBefore in seconds) are revoked */
  issuedBefore?: string
  reason: string
  createdAt: string
  expiresAt: string
}

/** Long enough for every access token issued before now to have expired. */
const TOKEN_HORIZON_MS = (MAX_ACCESS_TTL + 60) * 1000
const CREDENTIAL_HORIZON_MS = 366 * 24 * 3600 * 1000

export class Revocations {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async add(
    q: Queryable,
    kind: RevocationKind,
    subject: string,
    reason: string,
    opts: { expiresAt?: Date; issuedBefore?: Date } = {},
  ): Promise<void> {
    const now = this.clock.now()
    const horizon = kind === 'credential' ? CREDENTIAL_HORIZON_MS : TOKEN_HORIZON_MS
    const expiresAt = opts.expiresAt ?? new Date(now + horizon)
    const issuedBefore = kind === 'user' ? (opts.issuedBefore ?? new Date(now)) : null
    await q.query(
      `INSERT INTO revocations (kind, subject, issued_before, reason, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [kind, subject, issuedBefore, reason, new Date(now), expiresAt],
    )
  }

  /**
   * One round trip for every request with an access token: is it revoked (its session, its user since issue,
   * or itself), is its session live, and in which region does its tenant live?
   */
  async check(claims: AccessClaims): Promise<{ revoked: boolean; region: string | null }> {
    const { rows } = await this.db.query<{ revoked: boolean; live: boolean; region: string | null }>(
      `SELECT EXISTS (SELECT 1 FROM revocations WHERE expires_at > $1 AND (
                (kind = 'session' AND subject = $2) OR (kind = 'token' AND subject = $3) OR
                (kind = 'user' AND subject = $4 AND $5 <= floor(extract(epoch FROM issued_before))))) AS revoked,
              EXISTS (SELECT 1 FROM sessions WHERE id = $2::uuid AND revoked_at IS NULL) AS live,
              (SELECT region FROM tenants WHERE id = $6 AND deleted_at IS NULL) AS region`,
      [new Date(this.clock.now()), claims.sid, claims.jti, claims.sub, claims.iat, claims.tid ?? null],
    )
    const r = rows[0]!
    return { revoked: r.revoked || !r.live, region: r.region }
  }

  /** The smallest `iat` a new token of this user may carry so that no `user` row revokes it. */
  async minIat(userId: string): Promise<number> {
    const { rows } = await this.db.query<{ t: string | null }>(
      `SELECT floor(extract(epoch FROM max(issued_before)))::bigint AS t FROM revocations
        WHERE kind = 'user' AND subject = $1 AND expires_at > $2`,
      [userId, new Date(this.clock.now())],
    )
    return rows[0]?.t ? Number(rows[0].t) + 1 : 0
  }

  async since(seq: number, limit = 1000): Promise<{ version: number; items: Revocation[] }> {
    const { rows } = await this.db.query<{
      seq: string
      kind: RevocationKind
      subject: string
      issued_before: Date | null
      reason: string
      created_at: Date
      expires_at: Date
    }>(
      `SELECT seq, kind, subject, issued_before, reason, created_at, expires_at FROM revocations
        WHERE seq > $1 AND expires_at > $2 ORDER BY seq LIMIT $3`,
      [seq, new Date(this.clock.now()), limit],
    )
    const items = rows.map((r) => ({
      seq: Number(r.seq),
      kind: r.kind,
      subject: r.subject,
      ...(r.issued_before ? { issuedBefore: r.issued_before.toISOString() } : {}),
      reason: r.reason,
      createdAt: r.created_at.toISOString(),
      expiresAt: r.expires_at.toISOString(),
    }))
    let version = items.at(-1)?.seq ?? seq
    if (items.length === 0) {
      const { rows: top } = await this.db.query<{ max: string | null }>('SELECT max(seq) AS max FROM revocations')
      version = Math.max(seq, Number(top[0]?.max ?? 0))
    }
    return { version, items }
  }

  /** Deletes rows that no longer matter. */
  async prune(): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM revocations WHERE expires_at < $1', [
      new Date(this.clock.now() - 3600_000),
    ])
    return rowCount ?? 0
  }
}
