/**
 * Types of Motia's classic (0.17) step API, so that unmodified Motia step files type-check against CFP.
 *
 * Names and generic parameters follow Motia's public surface (`ApiRouteConfig`, `Handlers['Name']`,
 * `FlowContext<TEmitData>`, ...). `Handlers` and `FlowContextStateStreams` are empty interfaces that a project's
 * generated `types.d.ts` augments with `declare module 'motia' { interface Handlers { ... } }`.
 */
import type { Logger } from './logger.js'
import type { MotiaStream } from './stream-types.js'

/** A zod 3 schema (anything with `_def`). zod 4 classic schemas have it too. */
export interface Zod3LikeSchema {
  readonly _def: unknown
}

/** A zod 4 schema (classic or mini): anything with `_zod`. */
export interface Zod4LikeSchema {
  readonly _zod: unknown
}

/** A plain JSON Schema object. */
export type JsonSchema = { [key: string]: unknown }

/** What a config accepts where Motia takes a schema: a zod 3 or zod 4 schema, or plain JSON Schema. */
export type StepSchemaInput = Zod3LikeSchema | Zod4LikeSchema | JsonSchema

/** Motia's name for a zod input schema. */
export type ZodInput = Zod3LikeSchema | Zod4LikeSchema

export type InternalStateManager = {
  get<T>(groupId: string, key: string): Promise<T | null>
  set<T>(groupId: string, key: string, value: T): Promise<T>
  delete<T>(groupId: string, key: string): Promise<T | null>
  getGroup<T>(groupId: string): Promise<T[]>
  clear(groupId: string): Promise<void>
}

/** What `ctx.emit` takes. `type` is the pre-0.5 spelling of `topic`, still accepted at run time. */
export type EmitData = { topic: ''; data: unknown; messageGroupId?: string }
export type Emitter<TData> = (event: TData) => Promise<void>

/** Augmented by the generated `types.d.ts`: one `MotiaStream<T>` per stream file. */
// An interface, not a type: generated types.d.ts files augment it (declaration merging).
export interface FlowContextStateStreams {}

export interface FlowContext<TEmitData = never> {
  emit: Emitter<TEmitData>
  traceId: string
  state: InternalStateManager
  logger: Logger
  streams: FlowContextStateStreams
  /**
   * CFP: a key that is stable across retries of one delivery (`<step>:<eventId>`, `<step>:<tick>`, or the
   * request's `Idempotency-Key`). Always set by CFP workers; optional so that hand-built test contexts type-check.
   */
  idempotencyKey?: string
}

export type EventHandler<TInput, TEmitData> = (input: TInput, ctx: FlowContext<TEmitData>) => Promise<void>

/** An entry of `emits`: a topic, or a topic with a label for the workbench. */
export type Emit = string | { topic: string; label?: string; conditional?: boolean }

export type HandlerConfig = {
  ram: number
  cpu?: number
  timeout: number
}

export type QueueConfig =
  | { type: 'fifo'; maxRetries: number; visibilityTimeout: number; delaySeconds: number; concurrency?: number }
  | { type: 'standard'; maxRetries: number; visibilityTimeout: number; delaySeconds: number; concurrency?: number }

export type InfrastructureConfig = {
  handler?: Partial<HandlerConfig>
  queue?: Partial<QueueConfig>
}

export type EventConfig = {
  type: 'event'
  name: string
  description?: string
  /** CFP extension: service-level objectives (docs/slo.md). */
  slo?: SloConfig
  subscribes: string[]
  emits: Emit[]
  virtualEmits?: Emit[]
  virtualSubscribes?: string[]
  input?: StepSchemaInput
  flows?: string[]
  /** Files to include in the step bundle, relative to the step file. */
  includeFiles?: string[]
  infrastructure?: Partial<InfrastructureConfig>
}

export type NoopConfig = {
  type: 'noop'
  name: string
  description?: string
  virtualEmits: Emit[]
  virtualSubscribes: string[]
  flows?: string[]
}

/**
 * CFP extension: the step's service-level objectives (docs/slo.md), evaluated by the runtime over its rollups with
 * multi-window burn-rate alerts. Motia ignores the key.
 */
export interface SloConfig {
  /** Display name; default: the step's name. */
  name?: string
  description?: string
  /** Rolling window, whole days `1d`..`90d`; default `28d`. */
  window?: string
  /** Attempts at most `thresholdMs` long are good (`thresholdMs` is one of the histogram bounds). */
  latency?: { thresholdMs: number; target: number }
  /** Attempts that end ok are good. */
  errors?: { target: number }
  /** Fewest attempts in an alert's long window for it to fire. */
  minEvents?: number
}

export type ApiRouteMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS' | 'HEAD'

export type ApiMiddleware<TBody = unknown, TEmitData = never, TResult = unknown> = (
  req: ApiRequest<TBody>,
  ctx: FlowContext<TEmitData>,
  next: () => Promise<ApiResponse<number, TResult>>,
) => Promise<ApiResponse<number, TResult>>

export interface QueryParam {
  name: string
  description: string
}

export interface ApiRouteConfig {
  type: 'api'
  name: string
  description?: string
  /** CFP extension: service-level objectives (docs/slo.md). */
  slo?: SloConfig
  path: string
  method: ApiRouteMethod
  emits: Emit[]
  virtualEmits?: Emit[]
  virtualSubscribes?: string[]
  flows?: string[]
  middleware?: ApiMiddleware<any, any, any>[]
  bodySchema?: StepSchemaInput
  responseSchema?: Record<number, StepSchemaInput>
  queryParams?: QueryParam[]
  /** Files to include in the step bundle, relative to the step file. */
  includeFiles?: string[]
  /**
   * CFP extension: the step is a webhook a third party calls with an HMAC signature instead of credentials.
   * Requests without credentials reach it, and the worker refuses (401 `invalid_signature`) any whose
   * signature does not verify, before middleware and handler run.
   */
  webhook?: WebhookConfig
}

/** How a webhook's requests are signed. GitHub: `{ secret: 'GITHUB_WEBHOOK_SECRET', header: 'x-hub-signature-256', prefix: 'sha256=' }`. */
export interface WebhookConfig {
  /** Name of the environment variable (of the worker) that holds the shared secret. */
  secret: string
  /** Header carrying the signature. */
  header: string
  /** HMAC hash; default sha256. */
  algorithm?: 'sha256' | 'sha1' | 'sha512'
  /** Encoding of the signature; default hex. */
  encoding?: 'hex' | 'base64'
  /** Text before the signature in the header, e.g. `sha256=`. */
  prefix?: string
  /** Header with a Unix timestamp (seconds); when set, `<timestamp>.<raw body>` is signed and checked for age. */
  timestampHeader?: string
  /** Oldest accepted timestamp, in seconds; default 300. */
  toleranceSeconds?: number
  /**
   * Replay protection: a request whose signature was already accepted within this many seconds is refused
   * (`409 webhook_replayed`). Default: 86400 (a day) without `timestampHeader`, `toleranceSeconds` × 2 with it;
   * 0 turns it off (for senders that legitimately repeat a signed request).
   */
  replayWindowSeconds?: number
}

/**
 * The caller the runtime verified (`req.auth`): never a secret. CFP's own credentials (API keys, worker and
 * admin tokens, control-plane and runtime access tokens) are removed from `headers` and `queryParams`; this is
 * what stands in for them. `null` for an uncredentialed call of a signed webhook step.
 */
export interface ApiAuth {
  /** `local_developer` (dev mode on loopback), `admin` (the admin token), `user` (an access token), `api_key`, `end_user` (the project's own OIDC provider) */
  kind: 'local_developer' | 'admin' | 'user' | 'api_key' | 'end_user'
  /** The user id, API-key id or end user's `sub` (`admin`, `local-developer` for those). */
  subject: string
  tenant: string
  project: string
  /** The caller's roles that apply to this project (a user's bindings, an API key's role). */
  roles: string[]
}

export interface ApiRequest<TBody = unknown> {
  pathParams: Record<string, string>
  queryParams: Record<string, string | string[]>
  body: TBody
  /** Every request header except CFP credentials; an application's own `Authorization` passes unchanged. */
  headers: Record<string, string | string[]>
  /** The exact request body decoded as UTF-8. */
  rawBody: string
  /** Who called, as the runtime verified it (absent on runtimes that predate it). */
  auth?: ApiAuth | null
}

/** A handler's response. A `Buffer`/`Uint8Array` body is sent as binary. */
export type ApiResponse<TStatus extends number = number, TBody = string | Uint8Array | Record<string, unknown>> = {
  status: TStatus
  headers?: Record<string, string>
  body: TBody
}

export type ApiRouteHandler<TRequestBody = unknown, TResponseBody extends ApiResponse<number, unknown> = ApiResponse<number, unknown>, TEmitData = never> = (
  req: ApiRequest<TRequestBody>,
  ctx: FlowContext<TEmitData>,
) => Promise<TResponseBody>

export type CronConfig = {
  type: 'cron'
  name: string
  description?: string
  /** CFP extension: service-level objectives (docs/slo.md). */
  slo?: SloConfig
  cron: string
  virtualEmits?: Emit[]
  virtualSubscribes?: string[]
  emits: Emit[]
  flows?: string[]
  /** Files to include in the step bundle, relative to the step file. */
  includeFiles?: string[]
}

export type CronHandler<TEmitData = never> = (ctx: FlowContext<TEmitData>) => Promise<void>

type LooseEmit = { topic: string; data: any }

/** @deprecated Use `Handlers['StepName']` instead (kept because older Motia projects use it). */
export type StepHandler<T> = T extends EventConfig
  ? EventHandler<unknown, LooseEmit>
  : T extends ApiRouteConfig
    ? ApiRouteHandler<any, ApiResponse<number, any>, LooseEmit>
    : T extends CronConfig
      ? CronHandler<LooseEmit>
      : never

export type StepConfig = EventConfig | NoopConfig | ApiRouteConfig | CronConfig

export type Step<TConfig extends StepConfig = StepConfig> = { filePath: string; version: string; config: TConfig }

export type Flow = { name: string; description?: string; steps: Step[] }

/** Augmented by the generated `types.d.ts`: one handler type per step name. */
// An interface, not a type: generated types.d.ts files augment it (declaration merging).
export interface Handlers {}

/** Any step handler, as the worker calls it. */
export type AnyStepHandler = ApiRouteHandler<any, any, any> | EventHandler<any, any> | CronHandler<any>

export type { MotiaStream }
