import { describe, expect, it } from 'vitest'
import { applySpan, nextExpiry, OUTCOME_SHOWN_MS, stepStatus } from './activity'
import type { SpanEvent } from './api/types'

const span = (phase: 'start' | 'end', extra: Partial<SpanEvent> = {}): SpanEvent => ({
  phase,
  traceId: 't1',
  step: 'HelloApi',
  trigger: 'api',
  attempt: 1,
  startedMs: 0,
  ...extra,
})

describe('step activity', () => {
  it('is running between start and end, then shows the outcome for a while', () => {
    let a = applySpan({}, span('start'), 1000)
    expect(stepStatus(a.HelloApi, 1000)).toBe('running')
    a = applySpan(a, span('end', { ok: true }), 1200)
    expect(stepStatus(a.HelloApi, 1300)).toBe('ok')
    expect(stepStatus(a.HelloApi, 1200 + OUTCOME_SHOWN_MS + 1)).toBe('idle')
    expect(nextExpiry(a, 1300)).toBe(1200 + OUTCOME_SHOWN_MS)
  })

  it('stays running while any invocation runs and shows failures', () => {
    let a = applySpan({}, span('start'), 0)
    a = applySpan(a, span('start'), 0)
    a = applySpan(a, span('end', { ok: false, error: { message: 'x' } }), 10)
    expect(stepStatus(a.HelloApi, 10)).toBe('running')
    a = applySpan(a, span('end', { ok: true }), 20)
    expect(stepStatus(a.HelloApi, 20)).toBe('ok')
    expect(a.HelloApi!.count).toBe(2)
    expect(stepStatus(applySpan({}, span('end', { ok: false }), 0).HelloApi, 1)).toBe('error')
    // the runtime sends `error: null` on success
    expect(stepStatus(applySpan({}, span('end', { ok: true, error: null }), 0).HelloApi, 1)).toBe('ok')
  })
})
