/**
 * Sessions and refresh tokens. A refresh token (`cfp_rt_…`) is opaque and stored as SHA-256; each use spends
 * it and returns the next one of the same family (the session). Presenting a spent token is reuse — a sign
 * it was stolen — and revokes the whole session, including its live access tokens (via the revocation feed).
 */
import type { Clock } from '../clock.js'
import type { Db, Queryable } from '../db/pool.js'
import { ApiError } from '../errors.js'
import type { Revocations } from './revocations.js'
import { randomToken, sha256 } from './secrets.js'

export const REFRESH_PREFIX = 'cfp_rt_'

const invalidGrant = () => new ApiError(400, 'invalid_grant', 'refresh token is invalid, expired, spent or revoked')

export class Sessions {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly revocations: Revocations,
    private readonly ttlSeconds: number,
  ) {}

  /** Starts a session for a user who just authenticated; returns its first refresh token. */
  async create(q: Queryable, userId: string, method: string, confineToTenant?: string): Promise<{ sessionId: string; refreshToken: string }> {
    const now = new Date(this.clock.now())
    const expires = new Date(now.getTime() + this.ttlSeconds * 1000)
    const { rows } = await q.query<{ id: string }>(
      `INSERT INTO sessions (user_id, auth_method, created_at, expires_at, tenant_id) VALUES ($1, $2, $3, $4, $5)
       RETURNING id`,
      [userId, method, now, expires, confineToTenant ?? null],
    )
    const sessionId = rows[0]!.id
    const refreshToken = await this.insertToken(q, sessionId, null, expires)
    return { sessionId, refreshToken }
  }

  private async insertToken(q: Queryable, sessionId: string, parent: string | null, expires: Date): Promise<string> {
    const token = REFRESH_PREFIX + randomToken(32)
    await q.query('INSERT INTO refresh_tokens (session_id, token_hash, parent_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
      sessionId,
      sha256(token),
      parent,
      new Date(this.clock.now()),
      expires,
    ])
    return token
  }

  /** Spends a refresh token and returns the next one; reuse revokes the session and throws `invalid_grant`. */
  async rotate(
    refreshToken: string,
    /** runs in the rotation's transaction: `ok` (rotated) or `reuse` (a spent token: the session was revoked) */
    record?: (c: Queryable, what: { kind: 'ok' | 'reuse'; sessionId: string; userId: string; tenantId: string | null }) => Promise<void>,
  ): Promise<{ sessionId: string; userId: string; refreshToken: string }> {
    if (!refreshToken.startsWith(REFRESH_PREFIX)) throw invalidGrant()
    const outcome = await this.db.tx(async (c) => {
      const { rows } = await c.query<{
        id: string
        session_id: string
        used_at: Date | null
        expires_at: Date
        user_id: string
        revoked_at: Date | null
        disabled_at: Date | null
        tenant_id: string | null
      }>(
        `SELECT rt.id, rt.session_id, rt.used_at, rt.expires_at, s.user_id, s.revoked_at, s.tenant_id, u.disabled_at
           FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id JOIN users u ON u.id = s.user_id
          WHERE rt.token_hash = $1 FOR UPDATE OF rt, s`,
        [sha256(refreshToken)],
      )
      const row = rows[0]
      if (!row || row.revoked_at || row.disabled_at) return { kind: 'invalid' as const }
      if (row.used_at) {
        await this.revokeIn(c, row.session_id, 'refresh_token_reuse')
        await record?.(c, { kind: 'reuse', sessionId: row.session_id, userId: row.user_id, tenantId: row.tenant_id })
        return { kind: 'reuse' as const }
      }
      const now = this.clock.now()
      if (row.expires_at.getTime() <= now) return { kind: 'invalid' as const }
      await c.query('UPDATE refresh_tokens SET used_at = $2 WHERE id = $1', [row.id, new Date(now)])
      const next = await this.insertToken(c, row.session_id, row.id, row.expires_at)
      await record?.(c, { kind: 'ok', sessionId: row.session_id, userId: row.user_id, tenantId: row.tenant_id })
      return { kind: 'ok' as const, sessionId: row.session_id, userId: row.user_id, refreshToken: next }
    })
    if (outcome.kind !== 'ok') throw invalidGrant()
    return outcome
  }

  /** Revokes a session (logout, reuse, RFC 7009): its refresh tokens die, its access tokens enter the feed. */
  async revoke(sessionId: string, reason: string): Promise<void> {
    await this.db.tx((c) => this.revokeIn(c, sessionId, reason))
  }

  async revokeIn(c: Queryable, sessionId: string, reason: string): Promise<void> {
    const { rowCount } = await c.query('UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL', [
      sessionId,
      new Date(this.clock.now()),
      reason,
    ])
    if (rowCount) await this.revocations.add(c, 'session', sessionId, reason)
  }

  /** Revokes the session a refresh token belongs to, whether or not the token was spent (RFC 7009). */
  async revokeByToken(refreshToken: string): Promise<boolean> {
    const { rows } = await this.db.query<{ session_id: string }>('SELECT session_id FROM refresh_tokens WHERE token_hash = $1', [sha256(refreshToken)])
    if (!rows[0]) return false
    await this.revoke(rows[0].session_id, 'revoked')
    return true
  }

  async isActive(client: Queryable, sessionId: string): Promise<boolean> {
    const { rowCount } = await client.query('SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2', [
      sessionId,
      new Date(this.clock.now()),
    ])
    return (rowCount ?? 0) > 0
  }
}
