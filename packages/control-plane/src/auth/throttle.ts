/**
 * Brute-force protection of password login, shared by every replica through PostgreSQL (`login_failures`).
 *
 * - Per account (`email:<address>`, any address, known or not, so that locking says nothing about existence):
 *   5 failures within 15 minutes lock it for 30 s, doubling with each further failure up to 15 minutes.
 * - Per client address (`ip:<address>`): 30 failures within 15 minutes lock it until the window ends.
 * - A successful login clears the account's counter (not the address's).
 * A locked key answers 429 `too_many_attempts` with `Retry-After` before the password is even checked.
 */
import type { Clock } from '../clock.js'
import type { Db } from '../db/pool.js'
import { ApiError } from '../errors.js'

export const WINDOW_S = 15 * 60
export const ACCOUNT_FREE_FAILURES = 5
export const ACCOUNT_FIRST_LOCK_S = 30
export const ADDRESS_MAX_FAILURES = 30

export class LoginThrottle {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  static keys(email: string, ip: string): { account: string; address: string } {
    return { account: `email:${email.trim().toLowerCase()}`, address: `ip:${ip}` }
  }

  /** Throws 429 when any key is locked now. */
  async check(keys: string[]): Promise<void> {
    const now = new Date(this.clock.now())
    const { rows } = await this.db.query<{ locked_until: Date }>(
      'SELECT locked_until FROM login_failures WHERE key = ANY($1) AND locked_until > $2 ORDER BY locked_until DESC LIMIT 1',
      [keys, now],
    )
    const until = rows[0]?.locked_until
    if (until) {
      const retryAfterSeconds = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000))
      throw new ApiError(429, 'too_many_attempts', `too many failed logins; try again in ${retryAfterSeconds} s`, { retryAfterSeconds })
    }
  }

  /** Counts a failure against the account and the address and locks them when over their limits. */
  async fail(account: string, address: string): Promise<void> {
    const now = new Date(this.clock.now())
    const windowStart = new Date(now.getTime() - WINDOW_S * 1000)
    for (const key of [account, address]) {
      const { rows } = await this.db.query<{ failures: number; first_at: Date }>(
        `INSERT INTO login_failures (key, failures, first_at) VALUES ($1, 1, $2)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN login_failures.first_at < $3 THEN 1 ELSE login_failures.failures + 1 END,
           first_at = CASE WHEN login_failures.first_at < $3 THEN $2 ELSE login_failures.first_at END
         RETURNING failures, first_at`,
        [key, now, windowStart],
      )
      const { failures, first_at } = rows[0]!
      let lockS = 0
      if (key === account && failures >= ACCOUNT_FREE_FAILURES) {
        lockS = Math.min(WINDOW_S, ACCOUNT_FIRST_LOCK_S * 2 ** (failures - ACCOUNT_FREE_FAILURES))
      } else if (key === address && failures >= ADDRESS_MAX_FAILURES) {
        lockS = Math.max(1, Math.ceil((first_at.getTime() + WINDOW_S * 1000 - now.getTime()) / 1000))
      }
      if (lockS > 0) {
        await this.db.query('UPDATE login_failures SET locked_until = $2 WHERE key = $1', [key, new Date(now.getTime() + lockS * 1000)])
      }
    }
  }

  async succeed(account: string): Promise<void> {
    await this.db.query('DELETE FROM login_failures WHERE key = $1', [account])
  }

  /** Drops counters whose window and lock are over (maintenance). */
  async prune(): Promise<void> {
    const now = new Date(this.clock.now())
    await this.db.query('DELETE FROM login_failures WHERE first_at < $1 AND (locked_until IS NULL OR locked_until < $2)', [
      new Date(now.getTime() - WINDOW_S * 1000),
      now,
    ])
  }
}
