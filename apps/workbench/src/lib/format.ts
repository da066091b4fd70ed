/**
 * Formatting for people: durations, clock times, relative times, ids, JSON and cron expressions.
 *
 * @example
 * formatDuration(1234) // '1.23 s'
 * describeCron('*\/5 * * * *') // 'every 5 minutes'
 */

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—'
  if (ms < 0) ms = 0
  if (ms < 1) return `${ms.toFixed(2)} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const minutes = Math.floor(ms / 60_000)
  const seconds = Math.round((ms % 60_000) / 1000)
  if (minutes < 60) return `${minutes}m ${String(seconds).padStart(2, '0')}s`
  const hours = Math.floor(minutes / 60)
  return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0')

/** `14:03:07.123` in local time. */
export function formatClock(tsMs: number): string {
  const d = new Date(tsMs)
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

/** `2025-01-31 14:03:07` in local time. */
export function formatDateTime(tsMs: number): string {
  const d = new Date(tsMs)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

/** `just now`, `42 s ago`, `5 min ago`, `3 h ago`, then the date. */
export function formatRelative(tsMs: number, nowMs: number): string {
  const diff = nowMs - tsMs
  if (diff < 5_000) return 'just now'
  if (diff < 60_000) return `${Math.floor(diff / 1000)} s ago`
  if (diff < 3_600_000) return `${Math.floor(diff / 60_000)} min ago`
  if (diff < 86_400_000) return `${Math.floor(diff / 3_600_000)} h ago`
  return formatDateTime(tsMs)
}

/** The first 8 characters of a uuid-like id. */
export function shortId(id: string | number | undefined | null): string {
  if (id === undefined || id === null) return '—'
  const s = String(id)
  return s.length > 10 ? s.slice(0, 8) : s
}

export function prettyJson(value: unknown): string {
  if (value === undefined) return 'undefined'
  try {
    return JSON.stringify(value, null, 2) ?? String(value)
  } catch {
    return String(value)
  }
}

/** A single-line preview of a value, cut at `max` characters. */
export function previewJson(value: unknown, max = 120): string {
  let s: string
  try {
    s = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  } catch {
    s = String(value)
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

/** Plain words for common 5-field cron expressions; the expression itself otherwise. */
export function describeCron(expr: string): string {
  const fields = expr.trim().split(/\s+/)
  if (fields.length !== 5) return expr
  const [min, hour, dom, mon, dow] = fields as [string, string, string, string, string]
  const rest = dom === '*' && mon === '*' && dow === '*'
  if (!rest) return expr
  if (min === '*' && hour === '*') return 'every minute'
  const every = /^\*\/(\d+)$/.exec(min)
  if (every && hour === '*') return `every ${every[1]} minutes`
  if (/^\d+$/.test(min) && hour === '*') return min === '0' ? 'every hour' : `every hour at :${pad(Number(min))}`
  const everyHour = /^\*\/(\d+)$/.exec(hour)
  if (/^\d+$/.test(min) && everyHour) return `every ${everyHour[1]} hours`
  if (/^\d+$/.test(min) && /^\d+$/.test(hour)) return `daily at ${pad(Number(hour))}:${pad(Number(min))}`
  return expr
}
