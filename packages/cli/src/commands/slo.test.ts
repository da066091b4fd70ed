/**
 * `cfp slo rules` against a fake runtime answering `GET /__cfp/api/slo` in the real shape
 * (crates/gateway/src/slo.rs): rules are written only when every latency threshold is a bucket of the runtime's
 * histogram; otherwise nothing is printed and the error names the step, the threshold and the nearest buckets.
 */
import { tmpdir } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { captureIo, type FakeServer, startFakeServer } from '../test-support/fake-server.js'
import { DEFAULT_POLICY, describeMissing, missingBuckets } from '../slo/rules.js'
import { CliError } from '../util/errors.js'
import { runSloRules, type SloStatusBody } from './slo.js'

let server: FakeServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

// the built-in bounds of cfp_step_duration_seconds (crates/engine/src/metrics.rs DURATION_BUCKETS)
const BUILT_IN = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

function body(thresholds: Record<string, number>, buckets: number[] | undefined, enabled = true): SloStatusBody {
  return {
    tenant: 't1',
    project: 'p1',
    now: 0,
    policy: DEFAULT_POLICY,
    slos: [
      { step: 'Errors', source: 'step', spec: { window: '28d', errors: { target: 0.99 } }, slis: [], alerts: [] },
      ...Object.entries(thresholds).map(([step, thresholdMs]) => ({
        step,
        source: 'step',
        spec: { window: '28d', latency: { thresholdMs, target: 0.99 } },
        slis: [],
        alerts: [],
      })),
    ],
    ...(buckets ? { metrics: { enabled, durationBucketsSeconds: buckets } } : {}),
  }
}

async function rules(b: SloStatusBody) {
  server = await startFakeServer(() => ({ body: b }))
  const cap = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'tok' })
  try {
    await runSloRules({}, cap.io)
    return { ...cap, error: undefined }
  } catch (e) {
    return { ...cap, error: e }
  }
}

describe('cfp slo rules: latency thresholds and the runtime histogram', () => {
  it('writes the rules when every threshold is a bucket', async () => {
    const r = await rules(body({ Fast: 500, Slow: 1000 }, BUILT_IN))
    expect(r.error).toBeUndefined()
    expect(server?.requests[0]?.url).toBe('/__cfp/api/slo')
    expect(r.out[0]).toContain('le="0.5"')
    expect(r.out[0]).toContain('step: Slow')
    expect(r.err).toEqual([])
  })

  it('refuses a threshold between two buckets, printing nothing and naming the step, threshold and neighbours', async () => {
    const r = await rules(body({ Fast: 500, Charge: 200, Tail: 120000 }, BUILT_IN))
    expect(r.error).toBeInstanceOf(CliError)
    const e = r.error as CliError
    expect(e.exitCode).not.toBe(0)
    expect(e.message).toContain('2 latency SLOs')
    expect(e.message).toContain('step "Charge": latency threshold 200 ms (le="0.2")')
    expect(e.message).toContain('nearest buckets: 0.1 s and 0.25 s')
    expect(e.message).toContain('step "Tail": latency threshold 120000 ms (le="120") is not a bucket')
    expect(e.message).toContain('nearest buckets: 60 s')
    expect(e.message).not.toContain('"Fast"')
    expect(e.action).toContain('--metrics-extra-buckets 0.2,120')
    expect(r.out).toEqual([])
  })

  it('accepts the same threshold once the runtime has it as an extra bucket', async () => {
    const r = await rules(
      body(
        { Charge: 200 },
        [...BUILT_IN, 0.2].sort((a, b) => a - b),
      ),
    )
    expect(r.error).toBeUndefined()
    expect(r.out[0]).toContain('le="0.2"')
  })

  it('refuses a runtime that does not report its buckets, and warns when its metrics are off', async () => {
    const old = await rules(body({ Fast: 500 }, undefined))
    expect((old.error as Error).message).toContain('metrics.durationBucketsSeconds')
    expect(old.out).toEqual([])
    const off = await rules(body({ Fast: 500 }, BUILT_IN, false))
    expect(off.error).toBeUndefined()
    expect(off.err.join('\n')).toContain('--metrics off')
  })
})

describe('missingBuckets', () => {
  it('compares as floats and skips SLOs without latency', () => {
    // 0.3 is 300 / 1000 exactly as JavaScript computes it; 0.30000000000000004 (0.1 + 0.2) is the same bound
    expect(missingBuckets([{ step: 'a', spec: { window: '28d', latency: { thresholdMs: 300, target: 0.9 } } }], [0.1 + 0.2])).toEqual([])
    expect(missingBuckets([{ step: 'e', spec: { window: '28d', errors: { target: 0.9 } } }], [])).toEqual([])
    const m = missingBuckets([{ step: 'a', spec: { window: '28d', latency: { thresholdMs: 1, target: 0.9 } } }], [0.005])
    expect(m).toEqual([{ step: 'a', thresholdMs: 1, above: 0.005 }])
    expect(describeMissing(m[0]!)).toContain('nearest buckets: 0.005 s')
  })
})
