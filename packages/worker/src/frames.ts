/**
 * Frame parsing and validation for the worker protocol (docs/protocol.md). `parseFrame(text)` validates what
 * the runtime sends the worker; `validateWorkerFrame(value)` checks what the worker sends (used in tests). Both
 * follow `protocol/schema/worker-frames.schema.json` and are run against `protocol/vectors/worker-frames.json`.
 */
import type { RuntimeFrame, WorkerFrame } from './frame-types.js'
import { any, anyObject, arr, bool, type Check, int, literal, num, obj, oneOf, record, str } from './validate.js'

export * from './frame-types.js'

/** A frame that is not JSON, not an object, of an unknown type or missing a field. */
export class FrameError extends Error {
  readonly code = 'bad_frame'
  constructor(message: string) {
    super(message)
    this.name = 'FrameError'
  }
}

const nonEmpty = str({ minLength: 1 })
const strings = arr(str())
const stringOrStrings = oneOf(str(), strings)
const jsonSchemaValue = oneOf(anyObject, bool)
const emitDecl = oneOf(nonEmpty, obj({ topic: nonEmpty }, { label: str(), conditional: bool }))
const emit = obj({ topic: nonEmpty, data: any }, { messageGroupId: str() })

const stepManifest: Check = obj(
  { name: nonEmpty, type: literal('api', 'event', 'cron', 'noop'), file: nonEmpty },
  {
    description: str(),
    flows: strings,
    emits: arr(emitDecl),
    virtualEmits: arr(emitDecl),
    virtualSubscribes: strings,
    path: str({ pattern: /^\// }),
    method: literal('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
    bodySchema: jsonSchemaValue,
    responseSchema: record(jsonSchemaValue, /^[1-5][0-9][0-9]$/),
    queryParams: arr(obj({ name: str() }, { description: str() })),
    subscribes: strings,
    input: jsonSchemaValue,
    cron: str(),
    webhook: obj(
      { header: nonEmpty },
      {
        algorithm: literal('sha256', 'sha1', 'sha512'),
        encoding: literal('hex', 'base64'),
        prefix: str(),
        timestampHeader: nonEmpty,
        toleranceSeconds: int({ min: 1 }),
      },
    ),
    infrastructure: obj(
      {},
      {
        handler: obj({}, { ram: num(), cpu: num(), timeout: int({ min: 1, max: 900 }) }),
        queue: obj(
          {},
          {
            type: literal('standard', 'fifo'),
            maxRetries: int({ min: 0 }),
            visibilityTimeout: int({ min: 1 }),
            delaySeconds: int({ min: 0, max: 900 }),
            concurrency: int({ min: 1 }),
          },
        ),
      },
    ),
  },
  (v, path) => {
    const m = v as Record<string, unknown>
    const needs: Record<string, string[]> = { api: ['path', 'method'], event: ['subscribes'], cron: ['cron'] }
    const missing = (needs[m.type as string] ?? []).find((k) => m[k] === undefined)
    return missing ? `${path}.${missing} is required for ${String(m.type)} steps` : undefined
  },
)
const streamManifest = obj({ name: nonEmpty, file: str() }, { schema: jsonSchemaValue, storageType: literal('default', 'custom'), hasCanAccess: bool })
const logEntry = obj(
  { ts: num(), level: literal('debug', 'info', 'warn', 'error'), msg: str() },
  { traceId: str(), step: str(), invocationId: str(), data: anyObject },
)

/** The three forms of an API input's body (protocol/schema `ApiInput`): exactly one, nothing of another. */
const BODY_FORMS = [
  ['body', 'rawBody'],
  ['bodyFrom', 'rawBody'],
  ['bodyFrom', 'rawBodyRef'],
]
const BODY_FIELDS = ['body', 'bodyFrom', 'rawBody', 'rawBodyRef']
const apiInput = obj(
  {
    method: str(),
    path: str(),
    pathParams: record(str()),
    queryParams: record(stringOrStrings),
    headers: record(stringOrStrings),
  },
  {
    rawBody: str(),
    bodyFrom: literal('json', 'text', 'none'),
    rawBodyRef: obj({ key: nonEmpty, size: int({ min: 0 }), sha256: str({ pattern: /^[0-9a-f]{64}$/ }) }),
  },
  (v, path) => {
    const m = v as Record<string, unknown>
    const present = BODY_FIELDS.filter((k) => k in m && m[k] !== undefined && (k === 'body' || m[k] !== null))
    const fits = BODY_FORMS.some((form) => form.length === present.length && form.every((k) => present.includes(k)))
    return fits ? undefined : `${path} must carry its body as body + rawBody, bodyFrom + rawBody or bodyFrom + rawBodyRef`
  },
)
const eventInput = obj({ topic: str(), data: any, eventId: str() }, { messageGroupId: str() })
const cronInput = obj({ scheduledAt: str() })
const INPUT_BY_TRIGGER: Record<string, Check> = { api: apiInput, event: eventInput, cron: cronInput }

const ping = obj({}, { ts: num() })

// The register frame's `ui` (plugin tabs and node components, docs/workbench.md).
const sha256Hex = str({ pattern: /^[0-9a-f]{64}$/ })
const uiManifest = obj({
  tabs: arr(obj({ plugin: str(), label: str(), position: literal('top', 'bottom'), bundle: sha256Hex }, { labelIcon: str(), props: anyObject })),
  nodes: arr(obj({ step: nonEmpty, file: str(), bundle: sha256Hex })),
  bundles: record(str(), /^[0-9a-f]{64}$/),
})

/** Frames the worker sends. */
const WORKER_FRAMES: Record<string, Check> = {
  hello: obj({ protocol: int(), token: nonEmpty, worker: obj({}, { name: str(), pid: int(), sdk: str(), runtime: str() }) }, { capacity: int({ min: 1 }) }),
  register: obj({ steps: arr(stepManifest) }, { streams: arr(streamManifest), ui: uiManifest }),
  result: obj(
    { id: nonEmpty, ok: bool },
    {
      output: any,
      emits: arr(emit),
      error: obj({ message: str() }, { name: str(), stack: str(), retriable: bool, retryAfterMs: num({ min: 0 }) }),
      durationMs: num({ min: 0 }),
    },
  ),
  log: obj({ entries: arr(logEntry) }),
  spans: obj({
    id: nonEmpty,
    spans: arr(
      obj(
        { spanId: str({ pattern: /^[0-9a-f]{16}$/ }), name: str(), startMs: num(), endMs: num() },
        {
          parentSpanId: str({ pattern: /^[0-9a-f]{16}$/ }),
          kind: literal('internal', 'server', 'client', 'producer', 'consumer'),
          attributes: record(oneOf(str(), num(), bool)),
          status: literal('unset', 'ok', 'error'),
          statusMessage: str(),
        },
      ),
    ),
  }),
  call: obj({ id: int({ min: 0 }), method: nonEmpty, params: anyObject }, { traceId: str(), invocationId: str() }),
  access_result: obj({ id: nonEmpty, allowed: bool }),
  source_result: obj({ id: nonEmpty, ok: bool }, { file: str(), text: str(), error: str() }),
  ping,
  pong: ping,
  drain: obj({}),
}

/** Frames the runtime sends. */
const RUNTIME_FRAMES: Record<string, Check> = {
  welcome: obj({
    protocol: int(),
    workerId: str(),
    tenant: str(),
    project: str(),
    heartbeatMs: int({ min: 0 }),
    payloadThreshold: int({ min: 0 }),
  }),
  registered: obj({ steps: strings, errors: arr(obj({ step: str(), file: str(), code: str(), message: str() })) }),
  invoke: obj(
    {
      id: nonEmpty,
      step: nonEmpty,
      trigger: literal('api', 'event', 'cron'),
      attempt: int({ min: 1 }),
      traceId: str(),
      idempotencyKey: str(),
      timeoutMs: int({ min: 0 }),
      input: any,
    },
    { maxAttempts: int({ min: 1 }), traceparent: str(), tracestate: str() },
    (v, path) => {
      const f = v as { trigger: string; input: unknown }
      return INPUT_BY_TRIGGER[f.trigger]?.(f.input, `${path}.input`)
    },
  ),
  reply: obj({ id: int({ min: 0 }), ok: bool }, { result: any, error: obj({ code: str(), message: str() }) }),
  cancel: obj({ id: nonEmpty, reason: str() }),
  access: obj({ id: nonEmpty, stream: nonEmpty, groupId: str(), authContext: anyObject }, { itemId: str() }),
  source: obj({ id: nonEmpty, step: nonEmpty }),
  error: obj({ code: str(), message: str() }),
  ping,
  pong: ping,
  drain: obj({}),
}

function validate<T>(value: unknown, table: Record<string, Check>, side: string): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FrameError(`a frame must be a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`)
  }
  const type = (value as { type?: unknown }).type
  if (typeof type !== 'string') throw new FrameError('a frame needs a string "type"')
  const check = Object.hasOwn(table, type) ? table[type] : undefined
  if (!check) throw new FrameError(`unknown ${side} frame type "${type}"`)
  const problem = check(value, type)
  if (problem) throw new FrameError(`bad "${type}" frame: ${problem}`)
  return value as T
}

/** Parses and validates a frame received from the runtime; throws a `FrameError` (code `bad_frame`). */
export function parseFrame(text: string): RuntimeFrame {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new FrameError(`frame is not JSON: ${(err as Error).message}`)
  }
  return validateRuntimeFrame(value)
}

/** Validates an already-parsed frame sent by the runtime. */
export function validateRuntimeFrame(value: unknown): RuntimeFrame {
  return validate<RuntimeFrame>(value, RUNTIME_FRAMES, 'runtime')
}

/** Validates a frame the worker is about to send (tests and debugging). */
export function validateWorkerFrame(value: unknown): WorkerFrame {
  return validate<WorkerFrame>(value, WORKER_FRAMES, 'worker')
}
