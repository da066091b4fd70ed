/**
 * `cfp dlq list [--step S] [--json]`, `cfp dlq replay <id>`, `cfp dlq discard <id>`: the dead-letter queue of
 * the dev server, through the runtime's admin API.
 */
import { resolve } from 'node:path'
import { resolveTarget } from '../util/dev-file.js'
import type { CommandIo } from '../util/io.js'
import { RuntimeApi } from '../util/runtime-api.js'
import { renderTable } from '../util/table.js'

/** One dead letter as `GET /__cfp/api/dlq` returns it (docs/runtime-api.md). */
export interface DlqEntry {
  id: number | string
  step: string
  eventId?: string
  topic?: string
  data?: unknown
  traceId?: string
  groupId?: string
  attempts?: number
  error?: string | { message?: string; name?: string }
  failedAtMs?: number
  [key: string]: unknown
}

interface DirOption {
  dir?: string
}

function api(opts: DirOption, io: CommandIo): RuntimeApi {
  const target = resolveTarget({ dir: resolve(io.cwd, opts.dir ?? '.'), env: io.env })
  return new RuntimeApi(target, io.fetch)
}

/** The `items` of the runtime's listing; anything else is a protocol mismatch worth saying so. */
export function entriesOf(body: unknown): DlqEntry[] {
  const items = (body as { items?: unknown } | null)?.items
  if (!Array.isArray(items)) throw new Error('the runtime answered GET /__cfp/api/dlq without an `items` list; is it a CFP runtime of the same version?')
  return items as DlqEntry[]
}

function errorText(error: DlqEntry['error']): string {
  if (error === undefined || error === null) return ''
  if (typeof error === 'string') return error
  return [error.name, error.message].filter(Boolean).join(': ')
}

function when(ms: number | undefined): string {
  if (typeof ms !== 'number') return ''
  const date = new Date(ms)
  return Number.isNaN(date.getTime())
    ? ''
    : date
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z')
}

/** `terminalWidth` (a TTY's columns) narrows the error column so rows fit; without it errors get 80 characters. */
export function formatDlqTable(entries: readonly DlqEntry[], terminalWidth?: number): string {
  if (entries.length === 0) return 'The dead-letter queue is empty.'
  const errorWidth = terminalWidth === undefined ? 80 : Math.max(20, Math.min(80, terminalWidth - 100))
  return renderTable(entries, [
    { header: 'id', get: (e) => String(e.id) },
    { header: 'step', get: (e) => String(e.step ?? ''), maxWidth: 32 },
    { header: 'topic', get: (e) => String(e.topic ?? ''), maxWidth: 32 },
    { header: 'attempts', get: (e) => (e.attempts === undefined ? '' : String(e.attempts)) },
    { header: 'error', get: (e) => errorText(e.error), maxWidth: errorWidth },
    { header: 'failedAt', get: (e) => when(e.failedAtMs) },
  ])
}

export async function runDlqList(opts: DirOption & { step?: string; json?: boolean }, io: CommandIo): Promise<DlqEntry[]> {
  const query = opts.step ? `?step=${encodeURIComponent(opts.step)}` : ''
  const body = await api(opts, io).request<unknown>('GET', `/__cfp/api/dlq${query}`)
  const entries = entriesOf(body)
  if (opts.json) io.out(JSON.stringify(entries, null, 2))
  else io.out(formatDlqTable(entries, process.stdout.isTTY ? process.stdout.columns : undefined))
  return entries
}

export async function runDlqReplay(id: string, opts: DirOption, io: CommandIo): Promise<unknown> {
  const res = await api(opts, io).request<unknown>('POST', `/__cfp/api/dlq/${encodeURIComponent(id)}/replay`)
  const step = (res as { step?: unknown } | undefined)?.step
  io.out(`Replayed dead-letter entry ${id}${typeof step === 'string' ? ` on step ${step}` : ''}.`)
  return res
}

export async function runDlqDiscard(id: string, opts: DirOption, io: CommandIo): Promise<void> {
  await api(opts, io).request<unknown>('DELETE', `/__cfp/api/dlq/${encodeURIComponent(id)}`)
  io.out(`Discarded dead-letter entry ${id}.`)
}
