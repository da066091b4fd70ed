/**
 * Delivering security alerts to webhooks from the durable outbox `security_deliveries` (docs/control-plane.md
 * "Security alerts"). A round claims due rows (`FOR UPDATE SKIP LOCKED`, then a lease: `attempts` + 1 and
 * `next_attempt_at` pushed past the request's timeout, committed before anything is sent), POSTs the alert as
 * JSON signed with HMAC-SHA256, and records the outcome: 2xx → `delivered_at`; anything else (status, refused
 * address, timeout, redirect) → retried after `min(cap, base · 2^(attempts-1))`, until `maxAttempts`, then
 * `failed_at`. A crash between claim and outcome leaves the row to be retried when the lease ends: delivery is at
 * least once, and receivers de-duplicate by `X-CFP-Alert-Id`.
 *
 * Signature: `X-CFP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 */
import { createHmac } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { Db } from '../db/pool.js'
import { guardedFetch } from '../auth/outbound.js'

export interface DeliveryOptions {
  secret: string
  /** first retry delay in ms (default 10 s), doubling per attempt */
  baseMs: number
  /** longest retry delay in ms (default 1 h) */
  capMs: number
  /** attempts before a delivery is marked failed (default 10) */
  maxAttempts: number
  /** per request, in ms (default 10 s) */
  timeoutMs: number
}

export const DELIVERY_DEFAULTS: Omit<DeliveryOptions, 'secret'> = { baseMs: 10_000, capMs: 3_600_000, maxAttempts: 10, timeoutMs: 10_000 }

/** The `X-CFP-Signature` header value for a body sent at unix time `t`. */
export function signature(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`
}

/** Retry delay after the `attempts`-th failed attempt. */
export function backoff(o: Pick<DeliveryOptions, 'baseMs' | 'capMs'>, attempts: number): number {
  return Math.min(o.capMs, o.baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 40)))
}

interface Claimed {
  id: string
  url: string
  attempts: number
  alert_id: string
  created_at: Date
  rule: string
  severity: string
  tenant_id: string | null
  subject: string | null
  details: Record<string, unknown>
  source_chain: string
  source_seq: string
  source_time: Date
}

export type Fetch = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<{ status: number }>

/** The alert as delivered. */
export function alertBody(r: Claimed): string {
  return JSON.stringify({
    type: 'security.alert',
    id: Number(r.alert_id),
    createdAt: r.created_at.toISOString(),
    rule: r.rule,
    severity: r.severity,
    tenantId: r.tenant_id,
    subject: r.subject,
    details: r.details,
    source: { chain: r.source_chain, seq: Number(r.source_seq), time: r.source_time.toISOString() },
  })
}

export class Deliverer {
  private readonly fetch: Fetch

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly opts: DeliveryOptions,
    fetch?: Fetch,
  ) {
    // operator-configured receivers may sit on the company network; link-local (cloud metadata) and reserved never
    this.fetch = fetch ?? (guardedFetch({ allowLoopback: true, allowPrivate: true }) as unknown as Fetch)
  }

  /** Sends the due deliveries (up to `limit`); returns how many were delivered and how many failed this round. */
  async deliverDue(limit = 20): Promise<{ delivered: number; retried: number; failed: number }> {
    const now = this.clock.now()
    const claimed = await this.db.tx(async (c) => {
      const { rows } = await c.query<Claimed>(
        `SELECT d.id, d.url, d.attempts, a.id AS alert_id, a.created_at, a.rule, a.severity, a.tenant_id, a.subject, a.details,
                a.source_chain, a.source_seq, a.source_time
           FROM security_deliveries d JOIN security_alerts a ON a.id = d.alert_id
          WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= $1
          ORDER BY d.next_attempt_at, d.id LIMIT $2 FOR UPDATE OF d SKIP LOCKED`,
        [new Date(now), limit],
      )
      for (const r of rows) {
        await c.query('UPDATE security_deliveries SET attempts = attempts + 1, next_attempt_at = $2 WHERE id = $1', [
          r.id,
          new Date(now + this.opts.timeoutMs + 30_000),
        ])
      }
      return rows
    })
    const out = { delivered: 0, retried: 0, failed: 0 }
    await Promise.all(
      claimed.map(async (r) => {
        const attempts = r.attempts + 1
        const error = await this.send(r, attempts)
        const at = new Date(this.clock.now())
        if (error === null) {
          out.delivered++
          await this.db.query('UPDATE security_deliveries SET delivered_at = $2, last_error = NULL WHERE id = $1', [r.id, at])
        } else if (attempts >= this.opts.maxAttempts) {
          out.failed++
          await this.db.query('UPDATE security_deliveries SET failed_at = $2, last_error = $3 WHERE id = $1', [r.id, at, error])
        } else {
          out.retried++
          await this.db.query('UPDATE security_deliveries SET next_attempt_at = $2, last_error = $3 WHERE id = $1', [
            r.id,
            new Date(at.getTime() + backoff(this.opts, attempts)),
            error,
          ])
        }
      }),
    )
    return out
  }

  /** One POST; null when the receiver answered 2xx, else what went wrong. */
  private async send(r: Claimed, attempt: number): Promise<string | null> {
    const body = alertBody(r)
    const t = Math.floor(this.clock.now() / 1000)
    try {
      const res = await this.fetch(r.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'cfp-control-plane',
          'x-cfp-signature': signature(this.opts.secret, t, body),
          'x-cfp-alert-id': String(r.alert_id),
          'x-cfp-delivery-attempt': String(attempt),
        },
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      })
      return res.status >= 200 && res.status < 300 ? null : `the receiver answered ${res.status}`
    } catch (err) {
      return (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 500)
    }
  }
}
