/**
 * Builds `types.d.ts` from step manifests, in the shape `motia generate-types` (0.17) writes, so classic
 * step files typed as `Handlers['StepName']` type-check unchanged:
 *
 * ```ts
 * import { EventHandler, ApiRouteHandler, ApiResponse, MotiaStream, CronHandler } from 'motia'
 * declare module 'motia' {
 *   interface FlowContextStateStreams { 'todos': MotiaStream<{ id: string }> }
 *   interface Handlers {
 *     'CreateTodo': ApiRouteHandler<{ title: string }, ApiResponse<201, { id: string }>, { topic: 'todo.created'; data: { id: string } }>
 *     'OnTodo': EventHandler<{ id: string }, never>
 *     'Nightly': CronHandler<never>
 *   }
 * }
 * ```
 *
 * Each stream `'name': MotiaStream<T>` takes `T` from the stream's schema (hidden and internal `__*` streams are
 * left out), which types `ctx.streams.name.get/set/delete/getGroup/send` in handlers.
 *
 * The data type of a topic is the input schema of the steps subscribing to it (the intersection when several
 * declare one); emits to a FIFO topic require `messageGroupId`. Where Motia's generator writes `never` and so
 * makes a call impossible to type, CFP is more permissive, never stricter: a topic whose subscribers declare no
 * `input` carries `unknown` data, a topic nobody subscribes to is still emittable (with a warning), and a step
 * with `emits: []` (CFP: "may emit any topic") may emit `{ topic: string; data: unknown }`.
 */
import { intersectTypes, jsonSchemaToTs, tsString } from './json-schema-to-ts.js'

export type EmitEntry = string | { topic: string; label?: string; conditional?: boolean }

/** The fields of a StepManifest (docs/protocol.md) that types depend on. */
export interface StepManifestLike {
  name: string
  type: string
  file?: string
  emits?: EmitEntry[]
  subscribes?: string[]
  input?: unknown
  bodySchema?: unknown
  responseSchema?: Record<string, unknown>
  infrastructure?: { queue?: { type?: string } }
}

export interface StreamManifestLike {
  name: string
  schema?: unknown
  hidden?: boolean
}

/** Stream names the runtime reserves for its internal streams (never served to a project: not typed). */
export const INTERNAL_STREAM_PREFIX = '__'

export interface GeneratedTypes {
  text: string
  warnings: string[]
}

interface Topic {
  types: string[]
  fifo: boolean
}

const ANY_EMIT = '{ topic: string; data: unknown; messageGroupId?: string }'

function topicOf(entry: EmitEntry): string {
  return typeof entry === 'string' ? entry : entry.topic
}

function where(step: StepManifestLike): string {
  return step.file ? `step '${step.name}' (${step.file})` : `step '${step.name}'`
}

function collectTopics(steps: readonly StepManifestLike[]): Map<string, Topic> {
  const topics = new Map<string, Topic>()
  for (const step of steps) {
    if (step.type !== 'event') continue
    for (const name of step.subscribes ?? []) {
      const topic = topics.get(name) ?? { types: [], fifo: false }
      if (step.input !== undefined && step.input !== null) {
        const type = jsonSchemaToTs(step.input)
        if (!topic.types.includes(type)) topic.types.push(type)
      }
      if (step.infrastructure?.queue?.type === 'fifo') topic.fifo = true
      topics.set(name, topic)
    }
  }
  return topics
}

function emitType(step: StepManifestLike, topics: Map<string, Topic>, warnings: string[]): string {
  const emits = step.emits ?? []
  if (emits.length === 0) return ANY_EMIT
  const members: string[] = []
  for (const entry of emits) {
    const name = topicOf(entry)
    const topic = topics.get(name)
    if (!topic) {
      warnings.push(`${where(step)} emits '${name}', but no step subscribes to it; events on it go nowhere.`)
    }
    const data = topic && topic.types.length > 0 ? intersectTypes(topic.types) : 'unknown'
    const member = `{ topic: ${tsString(name)}; data: ${data}${topic?.fifo ? '; messageGroupId: string' : ''} }`
    if (!members.includes(member)) members.push(member)
  }
  return members.join(' | ')
}

function responseType(schemas: Record<string, unknown> | undefined): string {
  // Motia writes `unknown` here, which breaks ApiRouteHandler's `extends ApiResponse` constraint
  if (!schemas || Object.keys(schemas).length === 0) return 'ApiResponse<number, unknown>'
  return Object.entries(schemas)
    .map(([status, schema]) => `ApiResponse<${/^\d+$/.test(status) ? status : 'number'}, ${jsonSchemaToTs(schema)}>`)
    .join(' | ')
}

/** The `Handlers` entry of one step, or undefined for steps that are never invoked (noop). */
export function handlerType(step: StepManifestLike, topics: Map<string, Topic>, warnings: string[]): string | undefined {
  switch (step.type) {
    case 'event': {
      const input = step.input === undefined || step.input === null ? 'never' : jsonSchemaToTs(step.input)
      return `EventHandler<${input}, ${emitType(step, topics, warnings)}>`
    }
    case 'api': {
      const body = step.bodySchema === undefined || step.bodySchema === null ? 'Record<string, unknown>' : jsonSchemaToTs(step.bodySchema)
      return `ApiRouteHandler<${body}, ${responseType(step.responseSchema)}, ${emitType(step, topics, warnings)}>`
    }
    case 'cron':
      return `CronHandler<${emitType(step, topics, warnings)}>`
    default:
      return undefined
  }
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** Renders the whole `types.d.ts`. Entries are sorted by name so the file diffs cleanly. */
export function generateTypes(steps: readonly StepManifestLike[], streams: readonly StreamManifestLike[] = []): GeneratedTypes {
  const warnings: string[] = []
  const seen = new Map<string, StepManifestLike>()
  for (const step of steps) {
    const first = seen.get(step.name)
    if (first) warnings.push(`${where(step)} has the same name as ${where(first)}; only the first is typed.`)
    else seen.set(step.name, step)
  }
  const unique = [...seen.values()]
  const topics = collectTopics(unique)

  const handlers: string[] = []
  for (const step of [...unique].sort(byName)) {
    const type = handlerType(step, topics, warnings)
    if (type) handlers.push(`${tsString(step.name)}: ${type}`)
  }
  const streamLines = [...streams]
    .filter((s) => !s.hidden && !s.name.startsWith(INTERNAL_STREAM_PREFIX))
    .sort(byName)
    .map((s) => `${tsString(s.name)}: MotiaStream<${jsonSchemaToTs(s.schema)}>`)

  const block = (lines: string[]) => (lines.length === 0 ? '' : lines.map((l) => `    ${l}\n`).join(''))
  const text = `/**
 * Automatically generated types for motia (by \`cfp generate-types\`).
 * Do NOT edit this file manually: run \`cfp generate-types\` again after changing a step.
 *
 * Consider adding this file to .prettierignore and eslint ignore.
 */
import { EventHandler, ApiRouteHandler, ApiResponse, MotiaStream, CronHandler } from 'motia'

declare module 'motia' {
  interface FlowContextStateStreams {
${block(streamLines)}  }

  interface Handlers {
${block(handlers)}  }
}
`
  return { text, warnings }
}
