/**
 * Log lines on the Logs page: filtering (level at least, step, trace, text), merging the initial page with
 * live lines without duplicates, the `after` cursor, and the filters as URL search parameters.
 *
 * @example
 * filterLogs(lines, { level: 'warn', step: '', traceId: '', text: 'timeout' })
 */
import type { LogLevel, LogLine } from './api/types'

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

export interface LogFilters {
  /** Minimum level, or '' for every level. */
  level: LogLevel | ''
  step: string
  traceId: string
  text: string
}

export const EMPTY_FILTERS: LogFilters = { level: '', step: '', traceId: '', text: '' }

export function levelRank(level: string): number {
  const i = LOG_LEVELS.indexOf(level as LogLevel)
  // unknown levels (e.g. 'log', 'trace') rank with info
  return i < 0 ? 1 : i
}

function dataText(data: unknown): string {
  if (data === undefined || data === null) return ''
  try {
    return JSON.stringify(data)
  } catch {
    return ''
  }
}

export function matchesLog(line: LogLine, filters: LogFilters): boolean {
  if (filters.level && levelRank(line.level) < levelRank(filters.level)) return false
  if (filters.step && line.step !== filters.step) return false
  if (filters.traceId && !(line.traceId ?? '').startsWith(filters.traceId.trim())) return false
  const text = filters.text.trim().toLowerCase()
  if (text) {
    const hay = `${line.msg}\n${line.step ?? ''}\n${line.traceId ?? ''}\n${dataText(line.data)}`.toLowerCase()
    if (!hay.includes(text)) return false
  }
  return true
}

export function filterLogs(lines: readonly LogLine[], filters: LogFilters): LogLine[] {
  return lines.filter((line) => matchesLog(line, filters))
}

/**
 * Identity of a line, by content: live lines (GET /live) may come without the `id` that GET /logs gives the
 * same line, and both must collapse into one.
 */
export function logKey(line: LogLine): string {
  return `${line.tsMs}|${line.level}|${line.step ?? ''}|${line.traceId ?? ''}|${line.invocationId ?? ''}|${line.msg}`
}

function hasId(line: LogLine): boolean {
  return line.id !== undefined && line.id !== null
}

function compareLines(a: LogLine, b: LogLine): number {
  if (a.tsMs !== b.tsMs) return a.tsMs - b.tsMs
  const ai = Number(a.id)
  const bi = Number(b.id)
  if (Number.isFinite(ai) && Number.isFinite(bi)) return ai - bi
  return 0
}

/**
 * Existing plus incoming lines, oldest first, without duplicates (a copy with an id replaces one without),
 * keeping the newest `cap`.
 */
export function mergeLogs(existing: readonly LogLine[], incoming: readonly LogLine[], cap = 2000): LogLine[] {
  if (incoming.length === 0) return existing as LogLine[]
  const byKey = new Map<string, LogLine>()
  for (const line of existing) byKey.set(logKey(line), line)
  let changed = false
  for (const line of incoming) {
    const key = logKey(line)
    const seen = byKey.get(key)
    if (seen && (hasId(seen) || !hasId(line))) continue
    byKey.set(key, line)
    changed = true
  }
  if (!changed) return existing as LogLine[]
  // Array.prototype.sort is stable: lines with equal keys keep their arrival order
  const merged = [...byKey.values()].sort(compareLines)
  return merged.length > cap ? merged.slice(merged.length - cap) : merged
}

/** The highest numeric id: the `after` cursor for polling. */
export function lastLogId(lines: readonly LogLine[]): number | undefined {
  let max: number | undefined
  for (const line of lines) {
    const id = Number(line.id)
    if (line.id !== undefined && Number.isFinite(id) && (max === undefined || id > max)) max = id
  }
  return max
}

export function filtersFromSearch(search: URLSearchParams): LogFilters {
  const level = search.get('level') ?? ''
  return {
    level: (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : '',
    step: search.get('step') ?? '',
    traceId: search.get('traceId') ?? '',
    text: search.get('q') ?? '',
  }
}

export function filtersToSearch(filters: LogFilters): URLSearchParams {
  const search = new URLSearchParams()
  if (filters.level) search.set('level', filters.level)
  if (filters.step) search.set('step', filters.step)
  if (filters.traceId) search.set('traceId', filters.traceId)
  if (filters.text) search.set('q', filters.text)
  return search
}

export function activeFilterCount(filters: LogFilters): number {
  return [filters.level, filters.step, filters.traceId, filters.text].filter(Boolean).length
}
