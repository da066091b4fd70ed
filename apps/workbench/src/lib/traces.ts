/**
 * Trace timelines: one bar per span, placed relative to the trace's first start, with retries and failures
 * marked; and a summary (steps, attempts, retries, errors).
 *
 * @example
 * const t = traceTimeline(detail.spans, Date.now())
 * t.rows[0] // { span, offsetPct: 0, widthPct: 12.5, durationMs: 40, running: false, failed: false, retry: false }
 */
import type { Span } from './api/types'

export interface TimelineRow {
  span: Span
  /** Distance from the trace start, as a percentage of the trace duration. */
  offsetPct: number
  widthPct: number
  durationMs: number
  running: boolean
  failed: boolean
  /** A second or later attempt of the same delivery. */
  retry: boolean
}

export interface Timeline {
  startMs: number
  endMs: number
  totalMs: number
  rows: TimelineRow[]
}

export function spanFailed(span: Span): boolean {
  return span.ok === false || (span.error !== undefined && span.error !== null)
}

export function spanRunning(span: Span): boolean {
  return span.endedMs === undefined || span.endedMs === null
}

export function traceTimeline(spans: readonly Span[], nowMs: number): Timeline {
  if (spans.length === 0) return { startMs: nowMs, endMs: nowMs, totalMs: 0, rows: [] }
  const sorted = [...spans].sort((a, b) => a.startedMs - b.startedMs || String(a.id).localeCompare(String(b.id)))
  const startMs = Math.min(...sorted.map((s) => s.startedMs))
  const endMs = Math.max(...sorted.map((s) => (spanRunning(s) ? Math.max(nowMs, s.startedMs) : s.endedMs!)))
  const totalMs = Math.max(endMs - startMs, 0)
  const rows = sorted.map((span): TimelineRow => {
    const end = spanRunning(span) ? Math.max(nowMs, span.startedMs) : span.endedMs!
    const durationMs = Math.max(end - span.startedMs, 0)
    // at least a sliver, so instant spans stay visible (a sliver at the very end moves left to fit)
    const widthPct = totalMs === 0 ? 100 : Math.min(Math.max((durationMs / totalMs) * 100, 0.5), 100)
    const offsetPct = totalMs === 0 ? 0 : Math.min(((span.startedMs - startMs) / totalMs) * 100, 100 - widthPct)
    return {
      span,
      offsetPct,
      widthPct,
      durationMs,
      running: spanRunning(span),
      failed: spanFailed(span),
      retry: span.attempt > 1,
    }
  })
  return { startMs, endMs, totalMs, rows }
}

export interface TraceStats {
  steps: number
  spans: number
  retries: number
  errors: number
}

export function traceStats(spans: readonly Span[]): TraceStats {
  return {
    steps: new Set(spans.map((s) => s.step)).size,
    spans: spans.length,
    retries: spans.filter((s) => s.attempt > 1).length,
    errors: spans.filter(spanFailed).length,
  }
}

/** Tick marks for a timeline axis: about `count` round values from 0 to totalMs. */
export function axisTicks(totalMs: number, count = 4): number[] {
  if (totalMs <= 0) return [0]
  const raw = totalMs / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw
  const ticks: number[] = []
  for (let t = 0; t <= totalMs + 1e-9; t += step) ticks.push(Math.round(t * 1000) / 1000)
  return ticks
}
