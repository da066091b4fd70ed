/**
 * Response types of the runtime API (`/__cfp/api`), as documented in `docs/runtime-api.md`, and the step
 * manifest of `docs/protocol.md`.
 */

export type JsonSchema = Record<string, unknown>

/** An emit entry of a step config: a topic, or a topic with an edge label. */
export type Emit = string | { topic: string; label?: string; conditional?: boolean }

export type StepType = 'api' | 'event' | 'cron' | 'noop'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS' | 'HEAD'

export interface QueueConfig {
  type?: 'fifo' | 'standard'
  maxRetries?: number
  visibilityTimeout?: number
  delaySeconds?: number
  concurrency?: number
}

export interface StepManifest {
  name: string
  type: StepType
  file?: string
  description?: string
  flows?: string[]
  emits?: Emit[]
  virtualEmits?: Emit[]
  virtualSubscribes?: string[]
  // api
  path?: string
  method?: HttpMethod | string
  bodySchema?: JsonSchema
  responseSchema?: Record<string, JsonSchema>
  queryParams?: Array<{ name: string; description?: string }>
  middleware?: unknown
  // event
  subscribes?: string[]
  input?: JsonSchema
  // cron
  cron?: string
  infrastructure?: { handler?: { timeout?: number; ram?: number; cpu?: number }; queue?: QueueConfig }
}

export interface StepsResponse {
  steps: StepManifest[]
  workers: number
}

export interface Health {
  status: 'ok' | 'draining'
  workers: number
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface LogLine {
  /** Absent on runtimes older than the `after` cursor. */
  id?: number | string
  tsMs: number
  level: LogLevel | string
  msg: string
  traceId?: string
  step?: string
  invocationId?: string
  data?: Record<string, unknown> | unknown
}

export interface LogsResponse {
  logs: LogLine[]
}

export interface LogQuery {
  traceId?: string
  step?: string
  level?: string
  q?: string
  limit?: number
  after?: number | string
}

export interface TraceSummary {
  traceId: string
  startedMs: number
  endedMs?: number | null
  status: 'ok' | 'error' | 'running' | string
  steps: string[]
  spans: number
}

export interface TracesResponse {
  traces: TraceSummary[]
}

export type Trigger = 'api' | 'event' | 'cron'

export interface SpanError {
  message: string
  name?: string
}

export interface Span {
  id: string | number
  step: string
  trigger: Trigger | string
  attempt: number
  startedMs: number
  /** Absent while the span runs. */
  endedMs?: number | null
  ok?: boolean | null
  error?: SpanError | null
}

export interface TraceDetail {
  traceId: string
  spans: Span[]
}

/** `GET /steps/{name}/source`: the step file as the worker hosting it read it. */
export interface StepSourceResponse {
  step: string
  file: string
  text: string
}

export interface StateGroupsResponse {
  groups: Array<{ group: string; keys: number }>
}

export interface StateItemsResponse {
  items: Array<{ key: string; value: unknown }>
}

export interface QueueStats {
  step: string
  ready: number
  delayed: number
  inFlight: number
  retrying: number
  dead: number
  /** How long the oldest ready delivery has waited (runtimes from the Metrics page on; older ones omit it). */
  oldestReadyMs?: number
}

export interface QueuesResponse {
  queues: QueueStats[]
}

export interface DeadLetter {
  id: number
  step: string
  eventId: string
  topic: string
  data: unknown
  traceId: string
  groupId?: string | null
  attempts: number
  error: { message?: string; name?: string } | string | null
  failedAtMs: number
}

export interface DlqResponse {
  items: DeadLetter[]
}

export interface StreamGroupSummary {
  groupId: string
  items: number
}

export interface StreamSummary {
  name: string
  groups: StreamGroupSummary[]
  /** The stream file, relative to the project. */
  file?: string
  hasCanAccess?: boolean
  schema?: JsonSchema
}

export interface StreamsResponse {
  streams: StreamSummary[]
}

export interface StreamItemsResponse {
  items: unknown[]
}

export interface EmitResponse {
  eventId: string
  traceId: string
}

/** The `span` event of `GET /live`. */
export interface SpanEvent {
  phase: 'start' | 'end'
  traceId: string
  step: string
  trigger: Trigger | string
  attempt: number
  ok?: boolean
  error?: SpanError | null
  startedMs: number
  endedMs?: number
}

/** A workbench tab a plugin declares (`GET /ui`). */
export interface UiTab {
  plugin: string
  label: string
  labelIcon?: string
  position: 'top' | 'bottom'
  props?: Record<string, unknown>
  /** SHA-256 of its script: `GET /ui/bundles/{bundle}`. */
  bundle: string
}

/** `GET /ui`: plugin tabs, and node components by step name. */
export interface UiResponse {
  tabs: UiTab[]
  nodes: Record<string, { file: string; bundle: string }>
}
