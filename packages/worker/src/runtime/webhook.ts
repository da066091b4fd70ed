/**
 * Signed webhooks (a CFP extension of API steps): a step whose config has `webhook` is called by a third party
 * that signs each request with a shared secret instead of sending credentials. The runtime lets such requests
 * through without credentials; here, before middleware and handler, the signature over the exact raw body
 * (or `<timestamp>.<raw body>` with `timestampHeader`) must verify, compared in constant time. A verified request
 * is then claimed at the runtime by the digest of its signature (`webhook.claim`): the same signed request again
 * within the replay window is refused, so a captured request cannot be replayed.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { WebhookConfig } from '@cfp/sdk'

export type WebhookCheck = { ok: true; replay?: { digest: string; windowSeconds: number } } | { ok: false; status: 401 | 500; code: string; message: string }

/** Default replay window without a timestamp header: a day. */
export const DEFAULT_REPLAY_WINDOW_S = 86_400

function header(headers: Record<string, string | string[]>, name: string): string | undefined {
  const v = headers[name.toLowerCase()]
  return Array.isArray(v) ? v[0] : v
}

/** Checks a request against the step's webhook declaration. `now` is Unix seconds. */
export function verifyWebhook(
  cfg: WebhookConfig,
  headers: Record<string, string | string[]>,
  rawBody: Buffer,
  env: NodeJS.ProcessEnv = process.env,
  now = Math.floor(Date.now() / 1000),
): WebhookCheck {
  const secret = env[cfg.secret]
  if (!secret) {
    // The step's owner must fix this; nothing about the secret is revealed to the caller.
    return {
      ok: false,
      status: 500,
      code: 'webhook_misconfigured',
      message: `the webhook secret variable ${cfg.secret} is not set in the worker's environment`,
    }
  }
  const refuse = (message: string): WebhookCheck => ({ ok: false, status: 401, code: 'invalid_signature', message })
  const given = header(headers, cfg.header)
  if (!given) return refuse(`the ${cfg.header} header with the request's signature is missing`)
  const prefix = cfg.prefix ?? ''
  if (!given.startsWith(prefix)) return refuse(`the ${cfg.header} header must start with "${prefix}"`)
  let signed: Buffer = rawBody
  if (cfg.timestampHeader) {
    const ts = header(headers, cfg.timestampHeader)
    if (!ts || !/^\d{1,12}$/.test(ts)) return refuse(`the ${cfg.timestampHeader} header must be a Unix timestamp in seconds`)
    const age = Math.abs(now - Number(ts))
    const tolerance = cfg.toleranceSeconds ?? 300
    if (age > tolerance) return refuse(`the request was signed ${age} s away from now; at most ${tolerance} s is accepted`)
    signed = Buffer.concat([Buffer.from(`${ts}.`), rawBody])
  }
  const expected = createHmac(cfg.algorithm ?? 'sha256', secret)
    .update(signed)
    .digest()
  const encoding = cfg.encoding ?? 'hex'
  const text = given.slice(prefix.length).trim()
  const actual = encoding === 'hex' ? (/^[0-9a-fA-F]*$/.test(text) ? Buffer.from(text, 'hex') : Buffer.alloc(0)) : Buffer.from(text, 'base64')
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return refuse('the signature does not match the request body')
  // What identifies this signed request for replay protection: the signature over (timestamp and) body.
  const windowSeconds = cfg.replayWindowSeconds ?? (cfg.timestampHeader ? 2 * (cfg.toleranceSeconds ?? 300) : DEFAULT_REPLAY_WINDOW_S)
  if (windowSeconds === 0) return { ok: true }
  const digest = createHash('sha256').update(cfg.header).update('\0').update(expected).digest('hex')
  return { ok: true, replay: { digest, windowSeconds } }
}
