import { describe, expect, it } from 'vitest'
import type { Span } from './api/types'
import { axisTicks, traceStats, traceTimeline } from './traces'

const spans: Span[] = [
  { id: 2, step: 'ProcessGreeting', trigger: 'event', attempt: 1, startedMs: 1100, endedMs: 1150, ok: false, error: { message: 'boom' } },
  { id: 1, step: 'HelloApi', trigger: 'api', attempt: 1, startedMs: 1000, endedMs: 1040, ok: true },
  { id: 3, step: 'ProcessGreeting', trigger: 'event', attempt: 2, startedMs: 1300, endedMs: 1400, ok: true },
]

describe('traceTimeline', () => {
  it('orders spans by start and places bars relative to the trace', () => {
    const t = traceTimeline(spans, 5000)
    expect(t.totalMs).toBe(400)
    expect(t.rows.map((r) => r.span.id)).toEqual([1, 2, 3])
    expect(t.rows[0]).toMatchObject({ offsetPct: 0, widthPct: 10, durationMs: 40, failed: false, retry: false })
    expect(t.rows[1]).toMatchObject({ offsetPct: 25, durationMs: 50, failed: true })
    expect(t.rows[2]).toMatchObject({ offsetPct: 75, widthPct: 25, retry: true, failed: false })
  })

  it('lets running spans grow to now', () => {
    const t = traceTimeline([{ id: 1, step: 'A', trigger: 'event', attempt: 1, startedMs: 1000 }], 1600)
    expect(t.rows[0]).toMatchObject({ running: true, durationMs: 600, widthPct: 100 })
  })

  it('keeps instant spans visible and never past the end', () => {
    const t = traceTimeline(
      [
        { id: 1, step: 'A', trigger: 'api', attempt: 1, startedMs: 0, endedMs: 1000, ok: true },
        { id: 2, step: 'B', trigger: 'event', attempt: 1, startedMs: 1000, endedMs: 1000, ok: true },
      ],
      2000,
    )
    expect(t.rows[1]!.widthPct).toBeGreaterThan(0)
    expect(t.rows[1]!.offsetPct + t.rows[1]!.widthPct).toBeLessThanOrEqual(100)
  })
})

describe('traceStats and axis', () => {
  it('counts steps, retries and errors', () => {
    expect(traceStats(spans)).toEqual({ steps: 2, spans: 3, retries: 1, errors: 1 })
  })

  it('picks round tick values', () => {
    expect(axisTicks(400)).toEqual([0, 100, 200, 300, 400])
    expect(axisTicks(0)).toEqual([0])
  })
})
