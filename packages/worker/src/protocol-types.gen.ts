// Generated from protocol/schema/worker-frames.schema.json by src/gen/schema-to-ts.ts: do not edit.
// Run `npm run gen:types -w packages/worker` after changing the schema.

/** worker -> runtime: first frame of a session. `protocol` is any integer here so that the runtime can answer `unsupported_protocol` rather than `bad_frame`. */
export type HelloFrame = {
  type: 'hello'
  protocol: number
  token: string
  worker: {
    name?: string
    pid?: number
    sdk?: string
    runtime?: string
  }
  capacity?: number
}

/** worker -> runtime: replaces the whole set of steps and streams this connection hosts. */
export type RegisterFrame = {
  type: 'register'
  steps: StepManifest[]
  streams?: StreamManifest[]
  ui?: UiManifest
}

/** worker -> runtime: outcome of one invocation. Emits are published only with ok: true. */
export type ResultFrame = {
  type: 'result'
  id: string
  ok: boolean
  output?: unknown
  emits?: Emit[]
  error?: {
    message: string
    name?: string
    stack?: string
    retriable?: boolean
    retryAfterMs?: number
  }
  durationMs?: number
}

/** worker -> runtime: a batch of log entries. */
export type LogFrame = {
  type: 'log'
  entries: LogEntry[]
}

/** worker -> runtime: finished child spans that step code created with @opentelemetry/api during the invocation `id` (sent before its result). The runtime exports them over OTLP in the invocation's trace; it takes at most 128 spans per frame and 512 per invocation, and drops the rest (counted). See docs/tracing.md. */
export type SpansFrame = {
  type: 'spans'
  id: string
  spans: ChildSpan[]
}

/** worker -> runtime: an RPC (state.get, state.set, state.delete, state.getGroup, state.clear; streams.get, streams.set, streams.delete, streams.getGroup, streams.send; webhook.claim; payload.get). */
export type CallFrame = {
  type: 'call'
  id: number
  method: string
  params: Record<string, unknown>
  traceId?: string
  invocationId?: string
}

/** worker -> runtime: the answer to an `access` frame: what the stream's canAccess returned (false when it threw). */
export type AccessResultFrame = {
  type: 'access_result'
  id: string
  allowed: boolean
}

/** worker -> runtime: the answer to a `source` frame: the step file's text (ok) or why it cannot be read. */
export type SourceResultFrame = {
  type: 'source_result'
  id: string
  ok: boolean
  file?: string
  text?: string
  error?: string
}

/** runtime -> worker: the token was accepted. */
export type WelcomeFrame = {
  type: 'welcome'
  protocol: number
  workerId: string
  tenant: string
  project: string
  heartbeatMs: number
  payloadThreshold: number
}

/** runtime -> worker: which steps of the last register were accepted. */
export type RegisteredFrame = {
  type: 'registered'
  steps: string[]
  errors: RegistrationError[]
}

/** runtime -> worker: run a step once. `input` depends on `trigger` (see ApiInput, EventInput, CronInput). */
export type InvokeFrame =
  | ({
      type: 'invoke'
      id: string
      step: string
      attempt: number
      /** attempts of the delivery in all (maxRetries + 1; 1 for an API request) */
      maxAttempts?: number
      traceId: string
      /** W3C traceparent of this attempt's span: step code's spans are its children (docs/tracing.md). */
      traceparent?: string
      /** W3C tracestate that came with the trace, when any. */
      tracestate?: string
      idempotencyKey: string
      timeoutMs: number
    } & { trigger: 'api'; input: ApiInput })
  | ({
      type: 'invoke'
      id: string
      step: string
      attempt: number
      /** attempts of the delivery in all (maxRetries + 1; 1 for an API request) */
      maxAttempts?: number
      traceId: string
      /** W3C traceparent of this attempt's span: step code's spans are its children (docs/tracing.md). */
      traceparent?: string
      /** W3C tracestate that came with the trace, when any. */
      tracestate?: string
      idempotencyKey: string
      timeoutMs: number
    } & { trigger: 'event'; input: EventInput })
  | ({
      type: 'invoke'
      id: string
      step: string
      attempt: number
      /** attempts of the delivery in all (maxRetries + 1; 1 for an API request) */
      maxAttempts?: number
      traceId: string
      /** W3C traceparent of this attempt's span: step code's spans are its children (docs/tracing.md). */
      traceparent?: string
      /** W3C tracestate that came with the trace, when any. */
      tracestate?: string
      idempotencyKey: string
      timeoutMs: number
    } & { trigger: 'cron'; input: CronInput })

/** runtime -> worker: answer to a call with the same id. */
export type ReplyFrame = {
  type: 'reply'
  id: number
  ok: boolean
  result?: unknown
  error?: {
    code: string
    message: string
  }
}

/** runtime -> worker: the runtime no longer waits for this invocation. */
export type CancelFrame = {
  type: 'cancel'
  id: string
  reason: string
}

/** runtime -> worker: run the stream's canAccess({ groupId, id? }, authContext) for a client that joins it; answer with access_result. */
export type AccessFrame = {
  type: 'access'
  id: string
  stream: string
  groupId: string
  itemId?: string
  authContext: Record<string, unknown>
}

/** runtime -> worker: send the source text of one of your steps; answer with source_result. */
export type SourceFrame = {
  type: 'source'
  id: string
  step: string
}

/** runtime -> worker: a session-level error (unauthenticated, unsupported_protocol, bad_frame, ...). */
export type ErrorFrame = {
  type: 'error'
  code: string
  message: string
}

/** both directions: are you there? Answered with a pong carrying the same ts. */
export type PingFrame = {
  type: 'ping'
  ts?: number
}

/** both directions: the answer to a ping. */
export type PongFrame = {
  type: 'pong'
  ts?: number
}

/** both directions: the sender is shutting down; finish what is in flight and send nothing new. */
export type DrainFrame = {
  type: 'drain'
}

/** An entry of a step's emits / virtualEmits. */
export type EmitDecl =
  | string
  | {
      topic: string
      label?: string
      conditional?: boolean
    }

export type Emit = {
  topic: string
  data: unknown
  messageGroupId?: string
}

export type JsonSchemaValue = Record<string, unknown> | boolean

export type StepManifest = {
  name: string
  type: 'api' | 'event' | 'cron' | 'noop'
  file: string
  description?: string
  flows?: string[]
  emits?: EmitDecl[]
  virtualEmits?: EmitDecl[]
  virtualSubscribes?: string[]
  path?: string
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS' | 'HEAD'
  bodySchema?: JsonSchemaValue
  responseSchema?: Record<string, JsonSchemaValue>
  queryParams?: {
    name: string
    description?: string
  }[]
  subscribes?: string[]
  input?: JsonSchemaValue
  cron?: string
  webhook?: {
    header: string
    algorithm?: 'sha256' | 'sha1' | 'sha512'
    encoding?: 'hex' | 'base64'
    prefix?: string
    timestampHeader?: string
    toleranceSeconds?: number
  }
  /** the step's service-level objectives (CFP extension, docs/slo.md); a malformed one refuses only this step */
  slo?: {
    name?: string
    description?: string
    window?: string
    latency?: {
      thresholdMs:
        | 1
        | 2
        | 5
        | 10
        | 20
        | 25
        | 50
        | 75
        | 100
        | 150
        | 200
        | 250
        | 300
        | 400
        | 500
        | 750
        | 1000
        | 1500
        | 2000
        | 2500
        | 3000
        | 4000
        | 5000
        | 7500
        | 10000
        | 15000
        | 20000
        | 30000
        | 60000
        | 120000
        | 300000
      target: number
    }
    errors?: {
      target: number
    }
    minEvents?: number
  }
  infrastructure?: {
    handler?: {
      ram?: number
      cpu?: number
      timeout?: number
    }
    queue?: {
      type?: 'standard' | 'fifo'
      maxRetries?: number
      visibilityTimeout?: number
      delaySeconds?: number
      concurrency?: number
    }
  }
}

/** The workbench UI of the worker's project (docs/workbench.md, plugin tabs and node components): plugin tabs, *.step.tsx node components, and their browser scripts by sha256 (hex). At most 32 scripts, each at most 2 MiB, 16 MiB in all. */
export type UiManifest = {
  tabs: {
    plugin: string
    label: string
    labelIcon?: string
    position: 'top' | 'bottom'
    props?: Record<string, unknown>
    bundle: string
  }[]
  nodes: {
    step: string
    file: string
    bundle: string
  }[]
  bundles: Record<string, string>
}

/** A stream file (`*.stream.ts`). `hasCanAccess`: the config has canAccess, so the runtime asks the worker (`access`) before a client may subscribe. */
export type StreamManifest = {
  name: string
  file: string
  schema?: JsonSchemaValue
  storageType?: 'default' | 'custom'
  hasCanAccess?: boolean
}

export type LogEntry = {
  ts: number
  level: 'debug' | 'info' | 'warn' | 'error'
  msg: string
  traceId?: string
  step?: string
  invocationId?: string
  data?: Record<string, unknown>
}

/** A span of step code, in the trace of the invocation that carries it. Ids are lowercase hex; times are milliseconds since the Unix epoch (fractions allowed). */
export type ChildSpan = {
  spanId: string
  parentSpanId?: string
  name: string
  kind?: 'internal' | 'server' | 'client' | 'producer' | 'consumer'
  startMs: number
  endMs: number
  attributes?: Record<string, string | number | boolean>
  status?: 'unset' | 'ok' | 'error'
  statusMessage?: string
}

export type RegistrationError = {
  step: string
  file: string
  /** route_conflict | duplicate_step | invalid_manifest (other codes may be added) */
  code: string
  message: string
}

export type StringOrStrings = string | string[]

/** The body comes in one of three forms: `body` + `rawBody` (parsed by the runtime; what a protocol 1 worker always gets), `bodyFrom` + `rawBody` (protocol 2: the worker parses the bytes as the runtime would) or `bodyFrom` + `rawBodyRef` (protocol 2, a body above the payload threshold: the worker reads the bytes with `payload.get`). */
export type ApiInput = {
  method: string
  path: string
  pathParams: Record<string, string>
  queryParams: Record<string, StringOrStrings>
  headers: Record<string, StringOrStrings>
  /** the body parsed by the runtime (JSON, text) or null */
  body?: unknown
  rawBody?: string
  /** how the worker makes `req.body` from the bytes: JSON.parse of their UTF-8 text (the runtime checked it is JSON), their UTF-8 text (invalid sequences become U+FFFD), or null */
  bodyFrom?: 'json' | 'text' | 'none'
  /** where the bytes of a body above the payload threshold are: read them with `payload.get {key, offset}` (chunks of at most 256 KiB) and check their size and SHA-256 (lowercase hex) */
  rawBodyRef?: {
    key: string
    size: number
    sha256: string
  }
  /** the caller the runtime verified; never a secret; null for an uncredentialed webhook call */
  auth?: null | {
    kind: 'local_developer' | 'admin' | 'user' | 'api_key' | 'end_user'
    subject: string
    tenant: string
    project: string
    roles: string[]
  }
}

export type EventInput = {
  topic: string
  data: unknown
  eventId: string
  messageGroupId?: string
}

export type CronInput = {
  scheduledAt: string
}

/** The `output` of a successful result for an api invocation. */
export type ApiOutput = {
  status: number
  headers?: Record<string, StringOrStrings>
  body?: unknown
  bodyEncoding?: 'base64'
}

/** Every frame a worker sends. */
export type WorkerFrame =
  | HelloFrame
  | RegisterFrame
  | ResultFrame
  | LogFrame
  | SpansFrame
  | CallFrame
  | AccessResultFrame
  | SourceResultFrame
  | PingFrame
  | PongFrame
  | DrainFrame

/** Every frame the runtime sends. */
export type RuntimeFrame =
  | WelcomeFrame
  | RegisteredFrame
  | InvokeFrame
  | ReplyFrame
  | CancelFrame
  | AccessFrame
  | SourceFrame
  | ErrorFrame
  | PingFrame
  | PongFrame
  | DrainFrame
