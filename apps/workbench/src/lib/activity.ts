/**
 * Live step activity on the flow graph, from the `span` events of `GET /live`: a step is `running` while one
 * of its invocations is, then shows its last outcome (`ok` / `error`) for a short while.
 *
 * @example
 * let a = applySpan({}, { phase: 'start', step: 'HelloApi', … }, now)
 * stepStatus(a.HelloApi, now) // 'running'
 */
import type { SpanEvent } from './api/types'

export interface StepActivity {
  running: number
  last?: 'ok' | 'error'
  /** Until when the last outcome is shown. */
  lastUntilMs: number
  lastTraceId?: string
  /** Invocations seen since the page opened. */
  count: number
}

export type ActivityMap = Readonly<Record<string, StepActivity>>

export type StepStatus = 'idle' | 'running' | 'ok' | 'error'

export const OUTCOME_SHOWN_MS = 2500

export function applySpan(map: ActivityMap, ev: SpanEvent, nowMs: number): ActivityMap {
  const prev: StepActivity = map[ev.step] ?? { running: 0, lastUntilMs: 0, count: 0 }
  let next: StepActivity
  if (ev.phase === 'start') {
    next = { ...prev, running: prev.running + 1, count: prev.count + 1, lastTraceId: ev.traceId }
  } else {
    const failed = ev.ok === false || (ev.error !== undefined && ev.error !== null)
    next = {
      ...prev,
      running: Math.max(prev.running - 1, 0),
      last: failed ? 'error' : 'ok',
      lastUntilMs: nowMs + OUTCOME_SHOWN_MS,
      lastTraceId: ev.traceId,
      // an end without a start seen (the page opened mid-run) still counts once
      count: prev.running === 0 ? prev.count + 1 : prev.count,
    }
  }
  return { ...map, [ev.step]: next }
}

export function stepStatus(activity: StepActivity | undefined, nowMs: number): StepStatus {
  if (!activity) return 'idle'
  if (activity.running > 0) return 'running'
  if (activity.last && activity.lastUntilMs > nowMs) return activity.last
  return 'idle'
}

/** The earliest moment some shown outcome expires (to schedule a re-render), if any. */
export function nextExpiry(map: ActivityMap, nowMs: number): number | undefined {
  let next: number | undefined
  for (const a of Object.values(map)) {
    if (a.running === 0 && a.last && a.lastUntilMs > nowMs && (next === undefined || a.lastUntilMs < next)) {
      next = a.lastUntilMs
    }
  }
  return next
}
