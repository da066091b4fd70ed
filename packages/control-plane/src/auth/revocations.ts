/**
 * The revocation feed. Every revocation is a row with a growing `seq`; runtimes poll
 * `GET /v1/service/revocations?since=<seq>` (optionally long-polling with `wait`) and drop a row after its
 * `expiresAt`, when no token it could match is still alive. The control plane checks the same rows on every
 * request, so a revocation is effective here at once and on every runtime replica within one poll interval.
 *
 * A `user` row may name a tenant: it then ends only the tokens issued for that tenant (`tid`), as when the user
 * leaves the tenant or loses a binding there; their tokens for other tenants (which carry no binding of it) live
 * on. A runtime that does not know `tenantId` treats the row as a revocation of every token of the user (safe).
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
  /** 'user' rows: only the tokens issued for this tenant (`tid`); absent: every token of the user */
  tenantId?: string
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
    opts: { expiresAt?: Date; issuedBefore?: Date; tenantId?: string } = {},
  ): Promise<void> {
    const now = this.clock.now()
    const horizon = kind === 'credential' ? CREDENTIAL_HORIZON_MS : TOKEN_HORIZON_MS
    const expiresAt = opts.expiresAt ?? new Date(now + horizon)
    const issuedBefore = kind === 'user' ? (opts.issuedBefore ?? new Date(now)) : null
    const tenantId = kind === 'user' ? (opts.tenantId ?? null) : null
    await q.query(
      `INSERT INTO revocations (kind, subject, issued_before, reason, created_at, expires_at, tenant_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [kind, subject, issuedBefore, reason, new Date(now), expiresAt, tenantId],
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
                (kind = 'user' AND subject = $4 AND $5 <= floor(extract(epoch FROM issued_before))
                  AND (tenant_id IS NULL OR tenant_id = $6)))) AS revoked,
              EXISTS (SELECT 1 FROM sessions WHERE id = $2::uuid AND revoked_at IS NULL) AS live,
              (SELECT region FROM tenants WHERE id = $6 AND deleted_at IS NULL) AS region`,
      [new Date(this.clock.now()), claims.sid, claims.jti, claims.sub, claims.iat, claims.tid ?? null],
    )
    const r = rows[0]!
    return { revoked: r.revoked || !r.live, region: r.region }
  }

  /** The smallest `iat` a new token of this user (for `tenantId`) may carry so that no `user` row revokes it. */
  async minIat(userId: string, tenantId?: string): Promise<number> {
    const { rows } = await this.db.query<{ t: string | null }>(
      `SELECT floor(extract(epoch FROM max(issued_before)))::bigint AS t FROM revocations
        WHERE kind = 'user' AND subject = $1 AND expires_at > $2 AND (tenant_id IS NULL OR tenant_id = $3)`,
      [userId, new Date(this.clock.now()), tenantId ?? null],
    )
    return rows[0]?.t ? Number(rows[0].t) + 1 : 0
  }

  async since(seq: number, limit = 1000): Promise<{ version: number; items: Revocation[] }> {
    const { rows } = await this.db.query<{
      seq: string
      kind: RevocationKind
      subject: string
      issued_before: Date | null
      tenant_id: string | null
      reason: string
      created_at: Date
      expires_at: Date
    }>(
      `SELECT seq, kind, subject, issued_before, tenant_id, reason, created_at, expires_at FROM revocations
        WHERE seq > $1 AND expires_at > $2 ORDER BY seq LIMIT $3`,
      [seq, new Date(this.clock.now()), limit],
    )
    const items = rows.map((r) => ({
      seq: Number(r.seq),
      kind: r.kind,
      subject: r.subject,
      ...(r.issued_before ? { issuedBefore: r.issued_before.toISOString() } : {}),
      ...(r.tenant_id ? { tenantId: r.tenant_id } : {}),
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
    const { rowCount } = await this.db.query('DELETE FROM revocations WHERE expires_at < $1', [new Date(this.clock.now() - 3600_000)])
    return rowCount ?? 0
  }
}
