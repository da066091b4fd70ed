/**
 * Runs one `invoke` frame on a loaded step and builds its `result` frame.
 *
 * - api: `req = { pathParams, queryParams, body, headers, rawBody, auth }` (rawBody decoded from base64 to UTF-8, body
 *   parsed from it when the runtime sent `bodyFrom` (protocol 2) rather than `body`;
 *   `auth` the caller the runtime verified — the runtime removed CFP credentials from headers and query);
 *   middleware `(req, ctx, next)` runs first on the same `req`; the output is `{ status, headers?, body }`, a
 *   `Buffer`/`Uint8Array` body travelling as base64 with `bodyEncoding: 'base64'`.
 * - event: `handler(input.data, ctx)`; cron: `handler(ctx)`.
 * - emits go out only with a successful result; errors are classified (NonRetriableError -> retriable: false,
 *   RetryAfterError -> retryAfterMs, others retriable).
 */
import { classifyError, type FlowContext, NonRetriableError } from '@cfp/sdk'
import type { ApiInput, ApiOutput, ChildSpan, InvokeFrame, ResultFrame } from '../frame-types.js'
import type { LoadedStep } from '../loader/load.js'
import { type ContextDeps, createContext } from './context.js'
import { SpanCollector, withInvocationContext } from './tracing.js'
import { type ReadChunk, rawBytes, requestBody } from './body.js'
import { verifyWebhook } from './webhook.js'

/** Largest frame the runtime accepts (docs/protocol.md). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024

type Fn = (...args: unknown[]) => Promise<unknown>

/** A result frame and its JSON text (serialised once, checked against the frame size limit). */
export interface EncodedResult {
  frame: ResultFrame
  text: string
}

/** A result and the child spans step code created (batches of `spans` frames, sent before the result). */
export interface InvocationOutcome extends EncodedResult {
  spans: ChildSpan[][]
}

export async function runInvocation(step: LoadedStep | undefined, invoke: InvokeFrame, deps: ContextDeps): Promise<InvocationOutcome> {
  const collector = new SpanCollector()
  const result = encode(await withInvocationContext(invoke.traceparent, collector, () => execute(step, invoke, deps)))
  return { ...result, spans: collector.close() }
}

async function execute(step: LoadedStep | undefined, invoke: InvokeFrame, deps: ContextDeps): Promise<ResultFrame> {
  const started = performance.now()
  const done = (r: Omit<ResultFrame, 'type' | 'id' | 'durationMs'>): ResultFrame => ({
    type: 'result',
    id: invoke.id,
    ...r,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
  })
  if (!step) {
    return done({ ok: false, error: { message: `step '${invoke.step}' is not hosted by this worker`, retriable: true } })
  }
  if (!step.handler || step.config.type === 'noop') {
    return done({ ok: false, error: { message: `step '${invoke.step}' is a noop step and cannot be invoked`, retriable: false } })
  }
  if (invoke.trigger !== step.config.type) {
    const message = `step '${invoke.step}' is an ${step.config.type} step but was invoked by a ${invoke.trigger} trigger`
    return done({ ok: false, error: { message, retriable: false } })
  }
  const inv = createContext(step, invoke, deps)
  try {
    const handler = step.handler as Fn
    let output: unknown = null
    if (invoke.trigger === 'api') {
      const claim = (digest: string, ttlSeconds: number) =>
        deps.rpc.call('webhook.claim', { digest, ttlSeconds }, { traceId: invoke.traceId, invocationId: invoke.id }) as Promise<{ claimed: boolean }>
      const read: ReadChunk = (params) => deps.rpc.call('payload.get', params, { traceId: invoke.traceId, invocationId: invoke.id })
      output = apiOutput(step, await runApi(step, handler, invoke.input, inv.ctx, claim, read))
    } else if (invoke.trigger === 'event') {
      warnOnInvalidInput(step, invoke.input.data, inv.ctx)
      await handler(invoke.input.data, inv.ctx)
    } else await handler(inv.ctx)
    inv.close()
    return done({ ok: true, output, emits: inv.emits })
  } catch (err) {
    inv.close()
    return done({ ok: false, error: classifyError(err) })
  }
}

/**
 * Motia only warns when an event's data does not match the step's `input` schema, and so does CFP by default
 * (strict rejection at emit time is a runtime setting). zod 3 and 4 schemas are checked with `safeParse`.
 */
export function warnOnInvalidInput(step: LoadedStep, data: unknown, ctx: FlowContext<unknown>): void {
  const schema = (step.config as { input?: unknown }).input as
    | { safeParse?: (v: unknown) => { success: boolean; error?: { issues?: { path: PropertyKey[]; message: string }[] } } }
    | undefined
  if (!schema || typeof schema.safeParse !== 'function') return
  const checked = schema.safeParse(data)
  if (checked.success) return
  const issues = (checked.error?.issues ?? []).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
  ctx.logger.warn(`input of step '${step.config.name}' does not match its schema`, { issues })
}

async function runApi(
  step: LoadedStep,
  handler: Fn,
  input: ApiInput,
  ctx: FlowContext<unknown>,
  claim: (digest: string, ttlSeconds: number) => Promise<{ claimed: boolean }>,
  read: ReadChunk,
): Promise<unknown> {
  const raw = await rawBytes(input, read)
  const webhook = step.config.type === 'api' ? step.config.webhook : undefined
  if (webhook) {
    const check = verifyWebhook(webhook, input.headers, raw)
    if (!check.ok) {
      ctx.logger.warn(`webhook request refused: ${check.message}`, { code: check.code })
      return { status: check.status, body: { error: { code: check.code, message: check.status === 500 ? 'the webhook is not configured' : check.message } } }
    }
    if (check.replay && !(await claim(check.replay.digest, check.replay.windowSeconds)).claimed) {
      const message = `this signed request was already accepted within the last ${check.replay.windowSeconds} s; a replay is refused`
      ctx.logger.warn(`webhook request refused: ${message}`, { code: 'webhook_replayed' })
      return { status: 409, body: { error: { code: 'webhook_replayed', message } } }
    }
  }
  const req = {
    pathParams: input.pathParams,
    queryParams: input.queryParams,
    body: requestBody(input, raw),
    headers: input.headers,
    rawBody: raw.toString('utf8'),
    auth: input.auth ?? null,
  }
  const chain = step.middleware as unknown as ((req: unknown, ctx: unknown, next: () => Promise<unknown>) => Promise<unknown>)[]
  const run = async (i: number): Promise<unknown> => {
    const mw = chain[i]
    return mw ? mw(req, ctx, () => run(i + 1)) : handler(req, ctx)
  }
  return run(0)
}

/**
 * The `output` an API step's handler result becomes (`protocol/vectors/worker-frames.json`, `apiOutputs`): header
 * values are strings, numbers and booleans are sent as their text, anything else fails the step naming the header.
 */
export function apiOutput(step: LoadedStep, res: unknown): ApiOutput {
  const name = step.manifest.name
  if (typeof res !== 'object' || res === null) {
    throw new NonRetriableError(`API step '${name}' returned ${res === null ? 'null' : typeof res}; return { status, headers?, body }`)
  }
  const { status, headers, body } = res as { status?: unknown; headers?: unknown; body?: unknown }
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    throw new NonRetriableError(`API step '${name}' returned status ${JSON.stringify(status)}; it must be an integer HTTP status (100-599)`)
  }
  const out: ApiOutput = { status, body: body === undefined ? null : body }
  if (headers !== undefined && headers !== null) {
    if (typeof headers !== 'object') throw new NonRetriableError(`API step '${name}' returned headers that are not an object`)
    out.headers = headerValues(name, headers as Record<string, unknown>)
  }
  if (body instanceof Uint8Array) {
    out.body = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64')
    out.bodyEncoding = 'base64'
  }
  return out
}

function headerValues(step: string, headers: Record<string, unknown>): Record<string, string | string[]> {
  const text = (header: string, v: unknown): string => {
    if (typeof v === 'string') return v
    if (typeof v === 'number' || typeof v === 'boolean') return String(v)
    const kind = v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : typeof v
    throw new NonRetriableError(
      `API step '${step}' returned header '${header}' with ${kind} as its value; a header value must be a string, a number, a boolean or a list of them`,
    )
  }
  const out: Record<string, string | string[]> = {}
  for (const [header, v] of Object.entries(headers)) out[header] = Array.isArray(v) ? v.map((item) => text(header, item)) : text(header, v)
  return out
}

/** What starts a {@link failureLine}; `cfp dev` recognises it and prints it as one readable line. */
export const FAILURE_PREFIX = 'cfp-worker: step failed '

/**
 * The line the worker prints for a failed invocation: a fixed prefix, then JSON with the step, the trigger
 * (with method and path for an API request), the attempt "n of max", the trace id and the error message.
 * The stack is not in it: it goes to the step's log (the runtime records it with the result).
 */
export function failureLine(invoke: InvokeFrame, result: ResultFrame): string {
  const info: Record<string, unknown> = { step: invoke.step, trigger: invoke.trigger, attempt: invoke.attempt }
  if (invoke.maxAttempts !== undefined) info.maxAttempts = invoke.maxAttempts
  if (invoke.trigger === 'api') {
    info.method = invoke.input.method
    info.path = invoke.input.path
  }
  info.traceId = invoke.traceId
  info.message = result.error?.message ?? 'handler failed'
  if (result.error?.retriable === false) info.retriable = false
  return `${FAILURE_PREFIX}${JSON.stringify(info)}`
}

/** Serialises a result; one that cannot be serialised or is too large becomes a non-retriable failure. */
function encode(result: ResultFrame): EncodedResult {
  let text: string
  try {
    text = JSON.stringify(result)
  } catch (err) {
    return encode(failed(result, `the handler's output or emitted data is not JSON-serialisable: ${(err as Error).message}`))
  }
  if (text.length > MAX_FRAME_BYTES / 3 && Buffer.byteLength(text) > MAX_FRAME_BYTES) {
    const mib = (Buffer.byteLength(text) / 1048576).toFixed(1)
    return encode(failed(result, `the result is ${mib} MiB, above the 64 MiB frame limit; store large data elsewhere and pass a reference`))
  }
  return { frame: result, text }
}

function failed(result: ResultFrame, message: string): ResultFrame {
  const out: ResultFrame = { type: 'result', id: result.id, ok: false, error: { message, retriable: false } }
  if (result.durationMs !== undefined) out.durationMs = result.durationMs
  return out
}
