/**
 * Errors a handler throws to steer retries, and the classifier the worker uses to report them.
 *
 * - `NonRetriableError`: the failure will not go away by retrying; the delivery goes straight to the dead-letter
 *   queue (events) or the error is returned (API).
 * - `RetryAfterError`: retry, but not before `retryAfterMs`.
 * - anything else: retried with the queue's backoff.
 *
 * The classes mark their instances with a `Symbol.for` brand, so an error created by another copy of this module
 * (for example the one a CommonJS step file required) is recognised too.
 */
const NON_RETRIABLE = Symbol.for('cfp.error.nonRetriable')
const RETRY_AFTER = Symbol.for('cfp.error.retryAfterMs')

export class NonRetriableError extends Error {
  readonly [NON_RETRIABLE] = true

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'NonRetriableError'
  }
}

export class RetryAfterError extends Error {
  readonly [RETRY_AFTER]: number

  /** @param retryAfterMs how long to wait before the next attempt, in milliseconds (>= 0). */
  constructor(
    message: string,
    readonly retryAfterMs: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'RetryAfterError'
    if (!Number.isFinite(retryAfterMs) || retryAfterMs < 0) {
      throw new TypeError(`RetryAfterError: retryAfterMs must be a number >= 0, got ${String(retryAfterMs)}`)
    }
    this[RETRY_AFTER] = retryAfterMs
  }
}

/** How a thrown value is reported in a failed `result` frame. */
export interface ClassifiedError {
  message: string
  name?: string
  stack?: string
  retriable: boolean
  retryAfterMs?: number
}

/** Turns anything a handler threw into the `error` of a `result` frame. */
export function classifyError(err: unknown): ClassifiedError {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    const e = err as Error & { [NON_RETRIABLE]?: boolean; [RETRY_AFTER]?: number }
    const out: ClassifiedError = { message: String(e.message), retriable: e[NON_RETRIABLE] !== true }
    if (typeof e.name === 'string') out.name = e.name
    if (typeof e.stack === 'string') out.stack = e.stack
    if (typeof e[RETRY_AFTER] === 'number') out.retryAfterMs = e[RETRY_AFTER]
    return out
  }
  return { message: `non-error value thrown: ${safeString(err)}`, retriable: true }
}

function safeString(v: unknown): string {
  try {
    return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))
  } catch {
    return String(v)
  }
}
