/**
 * TypeScript types of the worker protocol frames (docs/protocol.md, version 1).
 */
import type { Emit as EmitDecl, EmitMessage, JsonSchema, LogLevel } from '@cfp/sdk'

export const PROTOCOL_VERSION = 1

export type StepType = 'api' | 'event' | 'cron' | 'noop'

/** A step as registered with the runtime: the validated config, schemas as JSON Schema, `file` relative to the project. */
export interface StepManifest {
  name: string
  type: StepType
  file: string
  description?: string
  flows?: string[]
  emits?: EmitDecl[]
  virtualEmits?: EmitDecl[]
  virtualSubscribes?: string[]
  path?: string
  method?: string
  bodySchema?: JsonSchema
  responseSchema?: Record<string, JsonSchema>
  queryParams?: { name: string; description?: string }[]
  subscribes?: string[]
  input?: JsonSchema
  cron?: string
  /** A signed webhook (CFP extension): how requests are signed; the secret stays in the worker. */
  webhook?: {
    header: string
    algorithm?: 'sha256' | 'sha1' | 'sha512'
    encoding?: 'hex' | 'base64'
    prefix?: string
    timestampHeader?: string
    toleranceSeconds?: number
  }
  infrastructure?: {
    handler?: { ram?: number; cpu?: number; timeout?: number }
    queue?: { type?: 'standard' | 'fifo'; maxRetries?: number; visibilityTimeout?: number; delaySeconds?: number; concurrency?: number }
  }
}

/** A stream file as reported in `register`. `hasCanAccess`: the runtime sends `access` frames to run its canAccess. */
export interface StreamManifest {
  name: string
  file: string
  schema?: JsonSchema
  storageType?: 'default' | 'custom'
  hasCanAccess?: boolean
}

export interface LogEntry {
  ts: number
  level: LogLevel
  msg: string
  traceId?: string
  step?: string
  invocationId?: string
  data?: Record<string, unknown>
}

export interface ResultError {
  message: string
  name?: string
  stack?: string
  retriable?: boolean
  retryAfterMs?: number
}

export interface RegistrationError {
  step: string
  file: string
  code: string
  message: string
}

export interface ApiInput {
  method: string
  path: string
  pathParams: Record<string, string>
  queryParams: Record<string, string | string[]>
  headers: Record<string, string | string[]>
  body: unknown
  /** base64 of the exact request bytes */
  rawBody: string
  /** the verified caller (`req.auth`), never a secret; null for an uncredentialed webhook call */
  auth?: { kind: string; subject: string; tenant: string; project: string; roles: string[] } | null
}

export interface EventInput {
  topic: string
  data: unknown
  eventId: string
  messageGroupId?: string
}

export interface CronInput {
  scheduledAt: string
}

export interface ApiOutput {
  status: number
  headers?: Record<string, string | string[]>
  body: unknown
  bodyEncoding?: 'base64'
}

// worker -> runtime
export type HelloFrame = {
  type: 'hello'
  protocol: number
  token: string
  worker: { name?: string; pid?: number; sdk?: string; runtime?: string }
  capacity?: number
}
export type RegisterFrame = { type: 'register'; steps: StepManifest[]; streams?: StreamManifest[] }
export type ResultFrame = {
  type: 'result'
  id: string
  ok: boolean
  output?: unknown
  emits?: EmitMessage[]
  error?: ResultError
  durationMs?: number
}
export type LogFrame = { type: 'log'; entries: LogEntry[] }
export type CallFrame = {
  type: 'call'
  id: number
  method: string
  params: Record<string, unknown>
  traceId?: string
  invocationId?: string
}

/** The answer to an `access` frame: what the stream's canAccess returned (false when it threw). */
export type AccessResultFrame = { type: 'access_result'; id: string; allowed: boolean }
/** The answer to a `source` frame: the step file's text, or why it cannot be read. */
export type SourceResultFrame = { type: 'source_result'; id: string; ok: boolean; file?: string; text?: string; error?: string }

// both directions
export type PingFrame = { type: 'ping'; ts?: number }
export type PongFrame = { type: 'pong'; ts?: number }
export type DrainFrame = { type: 'drain' }

// runtime -> worker
export type WelcomeFrame = {
  type: 'welcome'
  protocol: number
  workerId: string
  tenant: string
  project: string
  heartbeatMs: number
  payloadThreshold: number
}
export type RegisteredFrame = { type: 'registered'; steps: string[]; errors: RegistrationError[] }
type InvokeBase = { type: 'invoke'; id: string; step: string; attempt: number; traceId: string; idempotencyKey: string; timeoutMs: number }
export type InvokeFrame =
  | (InvokeBase & { trigger: 'api'; input: ApiInput })
  | (InvokeBase & { trigger: 'event'; input: EventInput })
  | (InvokeBase & { trigger: 'cron'; input: CronInput })
export type ReplyFrame = { type: 'reply'; id: number; ok: boolean; result?: unknown; error?: { code: string; message: string } }
export type CancelFrame = { type: 'cancel'; id: string; reason: string }
export type ErrorFrame = { type: 'error'; code: string; message: string }
/** Run `canAccess({ groupId, id: itemId }, authContext)` of a stream for a client joining it. */
export type AccessFrame = {
  type: 'access'
  id: string
  stream: string
  groupId: string
  itemId?: string
  authContext: Record<string, unknown>
}
/** Send the source text of one of this worker's steps (the workbench's code view). */
export type SourceFrame = { type: 'source'; id: string; step: string }

export type WorkerFrame =
  | HelloFrame
  | RegisterFrame
  | ResultFrame
  | LogFrame
  | CallFrame
  | AccessResultFrame
  | SourceResultFrame
  | PingFrame
  | PongFrame
  | DrainFrame
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
