/**
 * Usage metering (docs/usage.md): the shapes `GET /__cfp/api/usage` answers, and what the Usage page shows —
 * the rows sorted newest first with empty buckets filled in, totals, and human units.
 */
export { formatCount, formatDuration } from './format'

export type UsageScope = 'project' | 'tenant'
export type UsageGranularity = 'hour' | 'day'

export interface UsageCounts {
  invocations: number
  attempts: number
  execMs: number
  events: number
  payloadBytes: number
  streamMessages: number
  refused413: number
  refused429: number
  refused504: number
}

export interface UsageRow extends UsageCounts {
  startMs: number
}

export interface UsageResponse {
  scope: UsageScope
  tenant: string
  project: string | null
  granularity: UsageGranularity
  from: number
  to: number
  rows: UsageRow[]
  totals: UsageCounts
}

export interface UsageQuery {
  scope?: UsageScope
  granularity?: UsageGranularity
  from?: number
  to?: number
}

export const EMPTY_COUNTS: UsageCounts = {
  invocations: 0,
  attempts: 0,
  execMs: 0,
  events: 0,
  payloadBytes: 0,
  streamMessages: 0,
  refused413: 0,
  refused429: 0,
  refused504: 0,
}

const BUCKET_MS: Record<UsageGranularity, number> = { hour: 3_600_000, day: 86_400_000 }

/** The ranges the page offers, per granularity: label and length in buckets. */
export const RANGES: Record<UsageGranularity, readonly { label: string; buckets: number }[]> = {
  hour: [
    { label: 'Last 24 hours', buckets: 24 },
    { label: 'Last 48 hours', buckets: 48 },
    { label: 'Last 7 days', buckets: 168 },
  ],
  day: [
    { label: 'Last 7 days', buckets: 7 },
    { label: 'Last 31 days', buckets: 31 },
    { label: 'Last 13 months', buckets: 396 },
  ],
}

/** The query for the last `buckets` buckets up to `nowMs` (the current, unfinished bucket included). */
export function usageQuery(scope: UsageScope, granularity: UsageGranularity, buckets: number, nowMs: number): Required<UsageQuery> {
  const size = BUCKET_MS[granularity]
  const end = Math.floor(nowMs / size) * size + size
  return { scope, granularity, from: end - buckets * size, to: end }
}

/**
 * One row per bucket of `[from, to)`, newest first: buckets the runtime has no row for (nothing happened) are
 * zeros, so the table has no gaps. At most `limit` rows.
 */
export function fillBuckets(res: Pick<UsageResponse, 'rows' | 'from' | 'to' | 'granularity'>, limit = 2000): UsageRow[] {
  const size = BUCKET_MS[res.granularity]
  const byStart = new Map(res.rows.map((r) => [r.startMs, r]))
  const out: UsageRow[] = []
  const first = Math.floor(res.from / size) * size
  for (let start = Math.floor((res.to - 1) / size) * size; start >= first && out.length < limit; start -= size) {
    out.push(byStart.get(start) ?? { ...EMPTY_COUNTS, startMs: start })
  }
  return out
}

/** Sums rows (the totals the page shows for what it lists). */
export function sumCounts(rows: readonly UsageCounts[]): UsageCounts {
  const t = { ...EMPTY_COUNTS }
  for (const r of rows) for (const k of Object.keys(t) as (keyof UsageCounts)[]) t[k] += r[k]
  return t
}

export function refusals(c: UsageCounts): number {
  return c.refused413 + c.refused429 + c.refused504
}

/** Bytes for people: B, KB, MB, GB (powers of 1024). */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

/** A bucket's label: `2026-12-07 14:00` for hours, `2026-12-07` for days (UTC, as the buckets are). */
export function bucketLabel(startMs: number, granularity: UsageGranularity): string {
  const iso = new Date(startMs).toISOString()
  return granularity === 'hour' ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10)
}
