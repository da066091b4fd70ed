import { failureLine } from '@cfp/worker'
import { describe, expect, it } from 'vitest'
import { colorFor, failureSink, formatDeadLetter, formatFailure, oneLine, parseDeadLetter, parseStepFailure } from './failures.js'

// What the runtime prints (tracing's text format with ANSI off, as under cfp dev).
const DEAD_LETTER_LINE =
  '2026-12-07T20:41:02.123456Z  INFO cfp_engine::invoke: moved to the dead-letter queue tenant=default project=default step="Charge Card" trace_id=4f1c0b2e-1111-4222-8333-944445555666 attempts=3 retriable=true'

const invoke = (trigger: 'api' | 'event', extra: Record<string, unknown> = {}) =>
  ({
    type: 'invoke',
    id: 'i1',
    step: 'Charge',
    trigger,
    attempt: 2,
    maxAttempts: 3,
    traceId: 't-1',
    idempotencyKey: 'k',
    timeoutMs: 1000,
    input:
      trigger === 'api'
        ? { method: 'POST', path: '/charge', pathParams: {}, queryParams: {}, headers: {}, body: null, rawBody: '' }
        : { topic: 'x', data: {}, eventId: 'e' },
    ...extra,
  }) as Parameters<typeof failureLine>[0]

describe('failure lines of cfp dev', () => {
  it("reads the worker's own failure line (the contract with packages/worker)", () => {
    const line = failureLine(invoke('event'), { type: 'result', id: 'i1', ok: false, error: { message: 'card declined', retriable: true } })
    expect(parseStepFailure(line)).toEqual({ step: 'Charge', trigger: 'event', attempt: 2, maxAttempts: 3, traceId: 't-1', message: 'card declined' })
    expect(formatFailure(parseStepFailure(line)!, false)).toBe('✖ Charge failed (attempt 2 of 3): card declined · trace t-1')
  })

  it('prints a thrown API handler with its route and the 500 it answered', () => {
    const line = failureLine(invoke('api', { attempt: 1, maxAttempts: 1 }), { type: 'result', id: 'i1', ok: false, error: { message: 'boom' } })
    expect(formatFailure(parseStepFailure(line)!, false)).toBe('✖ Charge threw on POST /charge → 500: boom · trace t-1')
  })

  it('says when an attempt is not retried', () => {
    const line = failureLine(invoke('event', { attempt: 1 }), { type: 'result', id: 'i1', ok: false, error: { message: 'bad input', retriable: false } })
    expect(formatFailure(parseStepFailure(line)!, false)).toBe('✖ Charge failed (attempt 1 of 3, not retriable): bad input · trace t-1')
  })

  it("reads the runtime's dead-letter line and names the command to inspect it", () => {
    const d = parseDeadLetter(DEAD_LETTER_LINE)
    expect(d).toEqual({ step: 'Charge Card', traceId: '4f1c0b2e-1111-4222-8333-944445555666', attempts: 3, retriable: true })
    expect(formatDeadLetter(d!, false)).toBe(
      "✖ Charge Card moved to the dead-letter queue after 3 attempts · trace 4f1c0b2e-1111-4222-8333-944445555666 — inspect: cfp dlq list --step 'Charge Card'",
    )
    expect(formatDeadLetter({ ...d!, step: 'Charge', retriable: false, attempts: 1 }, false)).toBe(
      '✖ Charge moved to the dead-letter queue (not retriable, attempt 1) · trace 4f1c0b2e-1111-4222-8333-944445555666 — inspect: cfp dlq list --step Charge',
    )
  })

  it('leaves other lines alone', () => {
    expect(parseStepFailure('cfp-worker: registered 3 steps (0 errors)')).toBeUndefined()
    expect(parseStepFailure('cfp-worker: step failed {not json')).toBeUndefined()
    expect(parseDeadLetter('2026-12-07T20:41:02Z  WARN cfp_engine: something else step="x"')).toBeUndefined()
    expect(parseDeadLetter('[Charge] info: moved to the dead-letter queue step="x" trace_id=t attempts=1')).toBeUndefined()
  })

  it('puts a multi-line exception on one line and strips terminal escapes from tenant text', () => {
    expect(oneLine('ZodError: [\n  {\n    "code": "invalid_type"\n  }\n]')).toBe('ZodError: [ { "code": "invalid_type" } ]')
    expect(oneLine('evil \u001b[2J\u001b]0;owned\u0007 text \u009b31m')).toBe('evil [2J]0;owned text 31m')
    expect(oneLine('x'.repeat(600))).toHaveLength(501)
  })

  it('colours only for a terminal without NO_COLOR', () => {
    expect(colorFor({ isTTY: true }, {})).toBe(true)
    expect(colorFor({ isTTY: true }, { NO_COLOR: '' })).toBe(false)
    expect(colorFor({ isTTY: false }, {})).toBe(false)
    expect(colorFor({}, {})).toBe(false)
    const f = { step: 'S', trigger: 'event' as const, attempt: 1, maxAttempts: 2, traceId: 't', message: 'm' }
    expect(formatFailure(f, true)).toBe('\u001b[31m✖\u001b[0m \u001b[1mS\u001b[0m failed (attempt 1 of 2): m \u001b[2m· trace t\u001b[0m')
    expect(formatFailure(f, false)).not.toContain('\u001b')
  })

  it('the sink rewrites failure lines onto stdout and passes everything else through', () => {
    const out: string[] = []
    const sink = failureSink((name, stream, line) => out.push(`${name}/${stream}: ${line}`), false)
    sink('worker', 'stderr', failureLine(invoke('event'), { type: 'result', id: 'i1', ok: false, error: { message: 'nope' } }))
    sink('runtime', 'stderr', DEAD_LETTER_LINE)
    sink('runtime', 'stderr', 'INFO runtime starting')
    // a step's own log line that mimics the worker's prefix is not the worker's: only worker lines are read
    sink('runtime', 'stderr', 'cfp-worker: step failed {"step":"x","trigger":"event","attempt":1,"traceId":"t","message":"m"}')
    expect(out).toEqual([
      'worker/stdout: ✖ Charge failed (attempt 2 of 3): nope · trace t-1',
      "runtime/stdout: ✖ Charge Card moved to the dead-letter queue after 3 attempts · trace 4f1c0b2e-1111-4222-8333-944445555666 — inspect: cfp dlq list --step 'Charge Card'",
      'runtime/stderr: INFO runtime starting',
      'runtime/stderr: cfp-worker: step failed {"step":"x","trigger":"event","attempt":1,"traceId":"t","message":"m"}',
    ])
  })
})
