/**
 * Data of the Metrics page (docs/workbench.md "Metrics", docs/slo.md): the runtime's rollups, SLO status and
 * alerts, and what the page makes of them — time windows, latency percentiles from histogram buckets, error
 * rates, budget and burn-rate wording.
 *
 * Percentiles: a rollup holds a cumulative histogram (`latencyLe[i]` = attempts that took at most
 * `latencyBoundsMs[i]`). The q-quantile's rank is q·count; it falls in the first bucket whose cumulative count
 * reaches it, and is interpolated linearly inside that bucket (lower bound 0 for the first one), as Prometheus'
 * `histogram_quantile` does. A rank beyond the last bound (attempts slower than 300 s) reports the last bound.
 * The result is an estimate: exact at the bounds, off by at most the bucket's width between them.
 */
import type { ApiClient } from './api/client'
import { queryString } from './api/client'

// ---------- API shapes (docs/runtime-api.md) ----------

export interface Rollup {
  step: string
  startMs: number
  total: number
  ok: number
  handlerError: number
  timeout: number
  lostWorker: number
  deadLettered: number
  latencyCount: number
  latencySumMs: number
  latencyLe: number[]
}

export interface RollupsResponse {
  granularity: 'minute' | 'hour'
  from: number
  to: number
  latencyBoundsMs: number[]
  truncated: boolean
  rollups: Rollup[]
}

export interface SloSpec {
  name?: string
  description?: string
  window: string
  latency?: { thresholdMs: number; target: number }
  errors?: { target: number }
  minEvents?: number
}

export interface SliStatus {
  sli: 'errors' | 'latency' | string
  target: number
  value: number | null
  total: number
  bad: number
  budgetRemaining: number
  /** [window seconds, burn rate] */
  burnRates: Array<[number, number]>
}

export interface Alert {
  id: number
  step: string
  sli: string
  rule: string
  severity: string
  state: 'pending' | 'firing' | 'resolved' | string
  burnLong: number
  burnShort: number
  startedMs: number
  firedMs: number | null
  resolvedMs: number | null
}

export interface SloStatus {
  step: string
  source: 'step' | 'override' | string
  spec: SloSpec
  slis: SliStatus[]
  alerts: Alert[]
}

export interface BurnRule {
  name: string
  severity: string
  longSecs: number
  shortSecs: number
  factor: number
  forSecs: number
}

export interface SloResponse {
  now: number
  policy: { rules: BurnRule[]; minEvents: number; intervalSeconds: number }
  slos: SloStatus[]
}

/** The page's calls, through the client's generic request (the typed client stays small). */
export function sloApi(api: ApiClient) {
  const enc = encodeURIComponent
  return {
    rollups: (q: { step?: string; from: number; to: number; granularity: 'minute' | 'hour' }) =>
      api.call<RollupsResponse>('GET', `/rollups${queryString({ ...q, limit: 10_000 })}`),
    status: () => api.call<SloResponse>('GET', '/slo'),
    alerts: (step?: string, limit = 50) => api.call<{ alerts: Alert[] }>('GET', `/slo/alerts${queryString({ step, limit })}`),
    /** A project override of the step's SLO; `null` switches the step file's SLO off for the project. */
    setOverride: (step: string, spec: SloSpec | null) => api.call<unknown>('PUT', `/slo/${enc(step)}`, spec),
    removeOverride: (step: string) => api.call<unknown>('DELETE', `/slo/${enc(step)}`),
  }
}

// ---------- windows ----------

export const WINDOWS = [
  { key: '1h', label: '1 h', ms: 3_600_000, granularity: 'minute', bucketMs: 60_000 },
  { key: '6h', label: '6 h', ms: 6 * 3_600_000, granularity: 'minute', bucketMs: 5 * 60_000 },
  { key: '24h', label: '24 h', ms: 24 * 3_600_000, granularity: 'hour', bucketMs: 3_600_000 },
  { key: '7d', label: '7 d', ms: 7 * 86_400_000, granularity: 'hour', bucketMs: 6 * 3_600_000 },
  { key: '28d', label: '28 d', ms: 28 * 86_400_000, granularity: 'hour', bucketMs: 86_400_000 },
] as const

export type WindowSpec = (typeof WINDOWS)[number]
export type WindowKey = WindowSpec['key']
export const DEFAULT_WINDOW: WindowKey = '6h'

/** The window named in the URL (`?window=7d`), or the default for anything else. */
export function pickWindow(value: string | null | undefined): WindowSpec {
  return WINDOWS.find((w) => w.key === value) ?? WINDOWS.find((w) => w.key === DEFAULT_WINDOW)!
}

/**
 * The rollup query of a window ending at `now`: `to` is the end of the current chart bucket (so the partial
 * bucket shows), `from` one window earlier; both aligned to the chart's bucket so points do not shift between
 * refreshes.
 */
export function windowRange(w: WindowSpec, now: number): { from: number; to: number; granularity: 'minute' | 'hour' } {
  const to = Math.floor(now / w.bucketMs) * w.bucketMs + w.bucketMs
  return { from: to - w.ms, to, granularity: w.granularity }
}

// ---------- percentiles and series ----------

/** The q-quantile (0 < q < 1) of a cumulative histogram, interpolated within its bucket; undefined without data. */
export function percentile(boundsMs: readonly number[], le: readonly number[], count: number, q: number): number | undefined {
  if (!(count > 0) || boundsMs.length === 0 || le.length === 0) return undefined
  const rank = q * count
  let below = 0
  for (let i = 0; i < boundsMs.length; i++) {
    const cum = le[i] ?? below
    if (cum >= rank && cum > below) {
      const lower = i === 0 ? 0 : boundsMs[i - 1]!
      const upper = boundsMs[i]!
      return lower + ((upper - lower) * (rank - below)) / (cum - below)
    }
    below = cum
  }
  return boundsMs[boundsMs.length - 1]
}

/** Counts of one chart bucket (or of a whole window). */
export interface Totals {
  total: number
  errors: number
  latencyCount: number
  latencySumMs: number
  latencyLe: number[]
}

export interface Point {
  t: number
  total: number
  errors: number
  /** errors / total; undefined without attempts */
  errorRate?: number
  p50?: number
  p95?: number
  p99?: number
}

function emptyTotals(n: number): Totals {
  return { total: 0, errors: 0, latencyCount: 0, latencySumMs: 0, latencyLe: new Array<number>(n).fill(0) }
}

function addRollup(t: Totals, r: Rollup): void {
  t.total += r.total
  t.errors += r.total - r.ok
  t.latencyCount += r.latencyCount
  t.latencySumMs += r.latencySumMs
  for (let i = 0; i < t.latencyLe.length; i++) t.latencyLe[i]! += r.latencyLe[i] ?? 0
}

function point(t: number, s: Totals, bounds: readonly number[]): Point {
  return {
    t,
    total: s.total,
    errors: s.errors,
    errorRate: s.total > 0 ? s.errors / s.total : undefined,
    p50: percentile(bounds, s.latencyLe, s.latencyCount, 0.5),
    p95: percentile(bounds, s.latencyLe, s.latencyCount, 0.95),
    p99: percentile(bounds, s.latencyLe, s.latencyCount, 0.99),
  }
}

/**
 * The chart's points: the rollups (of one step, or all steps summed) in buckets of `bucketMs` from `from` to
 * `to`, every bucket present (empty ones have no rate or percentile).
 */
export function toSeries(rows: readonly Rollup[], bounds: readonly number[], range: { from: number; to: number }, bucketMs: number): Point[] {
  const n = Math.max(0, Math.ceil((range.to - range.from) / bucketMs))
  const buckets = Array.from({ length: n }, () => emptyTotals(bounds.length))
  for (const r of rows) {
    const i = Math.floor((r.startMs - range.from) / bucketMs)
    if (i >= 0 && i < n) addRollup(buckets[i]!, r)
  }
  return buckets.map((b, i) => point(range.from + i * bucketMs, b, bounds))
}

/** Per step, the whole window's attempts, error rate and percentiles, busiest first. */
export function stepSummaries(rows: readonly Rollup[], bounds: readonly number[]): Array<Point & { step: string }> {
  const by = new Map<string, Totals>()
  for (const r of rows) {
    let t = by.get(r.step)
    if (!t) by.set(r.step, (t = emptyTotals(bounds.length)))
    addRollup(t, r)
  }
  return [...by.entries()].map(([step, t]) => ({ step, ...point(0, t, bounds) })).sort((a, b) => b.total - a.total || a.step.localeCompare(b.step))
}

// ---------- wording ----------

export type Tone = 'ok' | 'warn' | 'error' | 'neutral'

/** `12.5 %` with as many decimals as a ratio near 1 needs (`99.95 %`). */
export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return '—'
  const p = ratio * 100
  const digits = Math.abs(p) >= 99 && Math.abs(p) < 100 ? 2 : Math.abs(p) < 10 && p !== 0 ? 2 : 1
  return `${p.toFixed(digits).replace(/\.?0+$/, '')} %`
}

/** Budget remaining (1 untouched, 0 spent, negative overspent) as text and tone. */
export function formatBudget(remaining: number): { text: string; tone: Tone } {
  if (remaining < 0) return { text: `overspent (${formatPercent(remaining)})`, tone: 'error' }
  return { text: `${formatPercent(remaining)} left`, tone: remaining <= 0.25 ? 'error' : remaining <= 0.5 ? 'warn' : 'ok' }
}

/**
 * A burn rate as `14.4×`; its tone against the policy: error from the lowest page factor up (a page would fire
 * if the other window agreed), warn above 1 (spending faster than the SLO window allows).
 */
export function formatBurn(rate: number, rules: readonly BurnRule[] = []): { text: string; tone: Tone } {
  const pages = rules.filter((r) => r.severity === 'page').map((r) => r.factor)
  const page = pages.length ? Math.min(...pages) : 6
  const text = `${rate >= 100 ? Math.round(rate) : rate >= 10 ? rate.toFixed(1) : rate.toFixed(2)}×`
  return { text, tone: rate >= page ? 'error' : rate > 1 ? 'warn' : 'ok' }
}

/** Window length in seconds as `5 min`, `6 h`, `3 d`. */
export function formatWindowSecs(secs: number): string {
  if (secs % 86_400 === 0) return `${secs / 86_400} d`
  if (secs % 3600 === 0) return `${secs / 3600} h`
  if (secs % 60 === 0) return `${secs / 60} min`
  return `${secs} s`
}

/** Milliseconds as `850 ms`, `1.2 s`, `2.5 min`. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—'
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1).replace(/\.0$/, '') : Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s`
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1).replace(/\.0$/, '')} min`
  return `${(ms / 3_600_000).toFixed(1).replace(/\.0$/, '')} h`
}

export const ALERT_TONE: Record<string, Tone> = { pending: 'warn', firing: 'error', resolved: 'ok' }

/** An alert's transitions in order: pending at start, firing when it fired, resolved when it ended. */
export function alertSteps(a: Alert): Array<{ state: string; atMs: number }> {
  const out = [{ state: 'pending', atMs: a.startedMs }]
  if (a.firedMs !== null) out.push({ state: 'firing', atMs: a.firedMs })
  if (a.resolvedMs !== null) out.push({ state: 'resolved', atMs: a.resolvedMs })
  return out
}

// ---------- the override form ----------

export interface SloForm {
  windowDays: string
  errorsTarget: string
  latencyThresholdMs: string
  latencyTarget: string
  minEvents: string
}

/** The form's fields from a spec (targets in percent, as people write them). */
export function formFromSpec(spec: SloSpec | undefined): SloForm {
  const pct = (t: number | undefined) => (t === undefined ? '' : String(Math.round(t * 100_000) / 1000))
  return {
    windowDays: spec?.window ? spec.window.replace(/d$/, '') : '28',
    errorsTarget: pct(spec?.errors?.target),
    latencyThresholdMs: spec?.latency ? String(spec.latency.thresholdMs) : '',
    latencyTarget: pct(spec?.latency?.target),
    minEvents: spec?.minEvents === undefined ? '' : String(spec.minEvents),
  }
}

/**
 * The SLO object a form describes, or the first field that is wrong (named). The runtime checks again and
 * names the field of anything it refuses.
 */
export function specFromForm(f: SloForm, bounds: readonly number[]): { spec: SloSpec } | { error: string } {
  const days = Number(f.windowDays)
  if (!Number.isInteger(days) || days < 1 || days > 90) return { error: 'Window: whole days from 1 to 90' }
  const spec: SloSpec = { window: `${days}d` }
  const target = (v: string, field: string): number | string => {
    const n = Number(v)
    return v.trim() !== '' && n > 0 && n <= 99.999 ? Number((n / 100).toPrecision(12)) : `${field}: a percentage above 0 and at most 99.999`
  }
  if (f.errorsTarget.trim()) {
    const t = target(f.errorsTarget, 'Error target')
    if (typeof t === 'string') return { error: t }
    spec.errors = { target: t }
  }
  if (f.latencyThresholdMs.trim() || f.latencyTarget.trim()) {
    const ms = Number(f.latencyThresholdMs)
    if (!bounds.includes(ms)) return { error: 'Latency threshold: one of the histogram bounds' }
    const t = target(f.latencyTarget, 'Latency target')
    if (typeof t === 'string') return { error: t }
    spec.latency = { thresholdMs: ms, target: t }
  }
  if (!spec.errors && !spec.latency) return { error: 'Set an error target, a latency objective, or both' }
  if (f.minEvents.trim()) {
    const n = Number(f.minEvents)
    if (!Number.isInteger(n) || n < 0 || n > 1_000_000) return { error: 'Minimum events: a whole number from 0 to 1000000' }
    spec.minEvents = n
  }
  return { spec }
}
