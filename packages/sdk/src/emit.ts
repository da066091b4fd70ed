/**
 * `ctx.emit` argument handling: accepts `{ topic, data, messageGroupId? }` and the legacy `{ type, data }`,
 * and checks the topic against the step's declared `emits` (an empty list allows any topic).
 */
import type { Emit } from './types.js'

/** An emit as it travels in a `result` frame. */
export interface EmitMessage {
  topic: string
  data: unknown
  messageGroupId?: string
}

/** The topics named by an `emits` list (strings and `{ topic }` entries). */
export function emitTopics(emits: readonly Emit[] | undefined): string[] {
  return (emits ?? []).map((e) => (typeof e === 'string' ? e : e.topic))
}

/** Thrown by `ctx.emit` for a malformed argument or a topic the step did not declare. */
export class EmitError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'EmitError'
  }
}

/**
 * Validates one `ctx.emit(arg)` call of step `step` whose config declares `emits`, and returns the message to
 * buffer. Throws an `EmitError` naming the allowed topics when the topic is not declared.
 */
export function normalizeEmit(arg: unknown, step: string, emits: readonly Emit[] | undefined): EmitMessage {
  if (typeof arg !== 'object' || arg === null) {
    throw new EmitError(`step '${step}': ctx.emit expects { topic, data }, got ${describe(arg)}`)
  }
  const a = arg as { topic?: unknown; type?: unknown; data?: unknown; messageGroupId?: unknown }
  const topic = a.topic !== undefined ? a.topic : a.type
  if (typeof topic !== 'string' || topic === '') {
    throw new EmitError(`step '${step}': ctx.emit needs a non-empty string 'topic', got ${describe(topic)}`)
  }
  const allowed = emitTopics(emits)
  if (allowed.length > 0 && !allowed.includes(topic)) {
    throw new EmitError(
      `step '${step}' emitted topic '${topic}', which its config does not declare. ` +
        `Allowed topics: ${allowed.map((t) => `'${t}'`).join(', ')}. Add '${topic}' to the step's 'emits' or fix the topic.`,
    )
  }
  if (a.messageGroupId !== undefined && typeof a.messageGroupId !== 'string') {
    throw new EmitError(`step '${step}': ctx.emit 'messageGroupId' must be a string, got ${describe(a.messageGroupId)}`)
  }
  const msg: EmitMessage = { topic, data: a.data === undefined ? null : a.data }
  if (typeof a.messageGroupId === 'string') msg.messageGroupId = a.messageGroupId
  return msg
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return typeof v === 'string' ? `'${v}'` : typeof v
}
