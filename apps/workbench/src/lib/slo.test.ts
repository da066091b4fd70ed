import { describe, expect, it } from 'vitest'
import { POLICY, runtimeCan } from './control/permissions'
import type { Me } from './control/types'
import {
  alertSteps,
  formatBudget,
  formatBurn,
  formatMs,
  formatPercent,
  formatWindowSecs,
  formFromSpec,
  percentile,
  pickWindow,
  type Rollup,
  specFromForm,
  stepSummaries,
  toSeries,
  windowRange,
} from './slo'

const BOUNDS = [10, 20, 50, 100]

/** A rollup whose attempts took the given durations (ms); `failed` of them are errors. */
function rollup(step: string, startMs: number, durations: number[], failed = 0): Rollup {
  return {
    step,
    startMs,
    total: durations.length,
    ok: durations.length - failed,
    handlerError: failed,
    timeout: 0,
    lostWorker: 0,
    deadLettered: 0,
    latencyCount: durations.length,
    latencySumMs: durations.reduce((a, b) => a + b, 0),
    latencyLe: BOUNDS.map((b) => durations.filter((d) => d <= b).length),
  }
}

describe('percentiles from histogram buckets', () => {
  it('interpolates within the bucket holding the rank', () => {
    // 10 attempts: 4 in (0,10], 4 in (10,20], 2 in (50,100]
    const le = [4, 8, 8, 10]
    // p50: rank 5 → second bucket, 1 of its 4 → 10 + 10 * 1/4
    expect(percentile(BOUNDS, le, 10, 0.5)).toBeCloseTo(12.5)
    // p95: rank 9.5 → (50,100] (the empty (20,50] is skipped), 1.5 of 2 → 50 + 50 * 0.75
    expect(percentile(BOUNDS, le, 10, 0.95)).toBeCloseTo(87.5)
    // the first bucket starts at 0
    expect(percentile(BOUNDS, le, 10, 0.2)).toBeCloseTo(5)
    // exact at a bound
    expect(percentile(BOUNDS, le, 10, 0.8)).toBeCloseTo(20)
  })

  it('reports the last bound for attempts beyond it, and nothing without attempts', () => {
    // 4 attempts, 2 slower than 100 ms: p99 is beyond every bound
    expect(percentile(BOUNDS, [1, 2, 2, 2], 4, 0.99)).toBe(100)
    expect(percentile(BOUNDS, [0, 0, 0, 0], 0, 0.5)).toBeUndefined()
  })
})

describe('series', () => {
  const range = { from: 0, to: 4 * 60_000 }

  it('puts each rollup in its chart bucket, sums steps and keeps empty buckets', () => {
    const rows = [rollup('A', 0, [5, 5, 15], 1), rollup('B', 30_000, [5], 0), rollup('A', 2 * 60_000, [60, 70], 2), rollup('A', 9 * 60_000, [5])]
    const s = toSeries(rows, BOUNDS, range, 60_000)
    expect(s.map((p) => p.t)).toEqual([0, 60_000, 120_000, 180_000])
    expect(s.map((p) => p.total)).toEqual([4, 0, 2, 0])
    expect(s[0]!.errorRate).toBeCloseTo(0.25)
    expect(s[1]!.errorRate).toBeUndefined()
    expect(s[1]!.p50).toBeUndefined()
    expect(s[2]!.errorRate).toBe(1)
    expect(s[2]!.p50).toBeCloseTo(75)
  })

  it('summarises each step over the window, busiest first', () => {
    const rows = [rollup('A', 0, [5]), rollup('B', 0, [5, 15, 15], 3), rollup('A', 60_000, [15])]
    const sum = stepSummaries(rows, BOUNDS)
    expect(sum.map((s) => [s.step, s.total, s.errors])).toEqual([
      ['B', 3, 3],
      ['A', 2, 0],
    ])
    expect(sum[1]!.p50).toBeCloseTo(10)
  })
})

describe('windows', () => {
  it('falls back to the default for an unknown window', () => {
    expect(pickWindow('7d').key).toBe('7d')
    expect(pickWindow('1y').key).toBe('6h')
    expect(pickWindow(null).key).toBe('6h')
  })

  it('aligns the range to the chart bucket and includes the current one', () => {
    const now = Date.UTC(2026, 0, 1, 12, 34, 56)
    const r = windowRange(pickWindow('1h'), now)
    expect(r.granularity).toBe('minute')
    expect(r.to).toBe(Date.UTC(2026, 0, 1, 12, 35))
    expect(r.to - r.from).toBe(3_600_000)
    const d = windowRange(pickWindow('28d'), now)
    expect(d.granularity).toBe('hour')
    expect(d.to).toBe(Date.UTC(2026, 0, 2))
    expect(toSeries([], BOUNDS, d, pickWindow('28d').bucketMs)).toHaveLength(28)
  })
})

describe('wording', () => {
  it('formats budgets with a tone', () => {
    expect(formatBudget(1)).toEqual({ text: '100 % left', tone: 'ok' })
    expect(formatBudget(0.4)).toEqual({ text: '40 % left', tone: 'warn' })
    expect(formatBudget(0.2).tone).toBe('error')
    expect(formatBudget(-9)).toEqual({ text: 'overspent (-900 %)', tone: 'error' })
  })

  it('formats burn rates against the policy', () => {
    const rules = [
      { name: 'page-fast', severity: 'page', longSecs: 3600, shortSecs: 300, factor: 14.4, forSecs: 120 },
      { name: 'ticket', severity: 'ticket', longSecs: 259_200, shortSecs: 21_600, factor: 1, forSecs: 3600 },
    ]
    expect(formatBurn(0.5, rules)).toEqual({ text: '0.50×', tone: 'ok' })
    expect(formatBurn(6, rules)).toEqual({ text: '6.00×', tone: 'warn' })
    expect(formatBurn(14.4, rules)).toEqual({ text: '14.4×', tone: 'error' })
    expect(formatBurn(1000, rules).text).toBe('1000×')
  })

  it('formats percentages, durations and windows', () => {
    expect(formatPercent(0.9995)).toBe('99.95 %')
    expect(formatPercent(0.25)).toBe('25 %')
    expect(formatPercent(0.0125)).toBe('1.25 %')
    expect(formatPercent(0)).toBe('0 %')
    expect(formatPercent(undefined)).toBe('—')
    expect(formatMs(12.5)).toBe('13 ms')
    expect(formatMs(2.5)).toBe('2.5 ms')
    expect(formatMs(1500)).toBe('1.5 s')
    expect(formatWindowSecs(300)).toBe('5 min')
    expect(formatWindowSecs(21_600)).toBe('6 h')
    expect(formatWindowSecs(259_200)).toBe('3 d')
  })

  it('lists an alert’s transitions', () => {
    const a = {
      id: 1,
      step: 'S',
      sli: 'errors',
      rule: 'page-fast',
      severity: 'page',
      state: 'resolved',
      burnLong: 20,
      burnShort: 20,
      startedMs: 1,
      firedMs: 2,
      resolvedMs: 3,
    }
    expect(alertSteps(a).map((s) => s.state)).toEqual(['pending', 'firing', 'resolved'])
    expect(alertSteps({ ...a, firedMs: null, resolvedMs: null, state: 'pending' })).toEqual([{ state: 'pending', atMs: 1 }])
  })
})

describe('the override form', () => {
  const bounds = [100, 500]

  it('round-trips a spec', () => {
    const spec = { window: '7d', errors: { target: 0.999 }, latency: { thresholdMs: 500, target: 0.99 }, minEvents: 5 }
    const form = formFromSpec(spec)
    expect(form.errorsTarget).toBe('99.9')
    expect(specFromForm(form, bounds)).toEqual({ spec })
  })

  it('names the wrong field', () => {
    const ok = formFromSpec({ window: '28d', errors: { target: 0.99 } })
    const err = (patch: Partial<typeof ok>) => {
      const r = specFromForm({ ...ok, ...patch }, bounds)
      return 'error' in r ? r.error : ''
    }
    expect(err({ windowDays: '0' })).toMatch(/^Window/)
    expect(err({ errorsTarget: '100' })).toMatch(/^Error target/)
    expect(err({ latencyThresholdMs: '333', latencyTarget: '99' })).toMatch(/^Latency threshold/)
    expect(err({ latencyThresholdMs: '500', latencyTarget: '' })).toMatch(/^Latency target/)
    expect(err({ errorsTarget: '' })).toMatch(/error target, a latency objective/)
    expect(err({ minEvents: '1.5' })).toMatch(/^Minimum events/)
    expect(err({})).toBe('')
  })
})

describe('who may edit SLOs on the Metrics page (the matrix the page asks through RuntimeScope.can)', () => {
  const p1 = { tenant: 't', team: 'a', project: 'p1' }
  const user = (role: string, project = 'p1'): Me => ({
    kind: 'user',
    id: 'u',
    tenantId: 't',
    bindings: [{ role, scope: { tenant: 't', team: 'a', project } }],
  })

  it('viewers read, project admins edit, and only their own project', () => {
    const viewer = runtimeCan(POLICY, user('project_viewer'), p1)
    expect(viewer('flow.read')).toBe(true)
    expect(viewer('slo.write')).toBe(false)
    expect(runtimeCan(POLICY, user('project_admin'), p1)('slo.write')).toBe(true)
    expect(runtimeCan(POLICY, user('project_admin', 'p2'), p1)('slo.write')).toBe(false)
    expect(runtimeCan(POLICY, user('project_admin', 'p2'), p1)('flow.read')).toBe(false)
  })
})
