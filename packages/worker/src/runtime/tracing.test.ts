import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChildSpan, LogFrame, WorkerFrame } from '../frame-types.js'
import { FakeRuntime, tempProject } from '../test-support/fake-runtime.js'
import { MAX_ATTRIBUTES, MAX_SPANS, MAX_SPANS_PER_FRAME, parseTraceparent } from './tracing.js'
import { startWorker, type WorkerHandle } from './worker.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'

describe('step code spans with @opentelemetry/api', () => {
  let runtime: FakeRuntime
  let worker: WorkerHandle
  let project: { dir: string; cleanup: () => void }

  beforeAll(async () => {
    runtime = await FakeRuntime.start()
    project = tempProject('otel-project')
    worker = await startWorker({ dir: project.dir, url: runtime.url, token: runtime.token, name: 'otel', printLogs: false, print: () => {} })
    await runtime.waitFor((f) => f.type === 'register')
  })

  afterAll(async () => {
    await worker.stop()
    await runtime.close()
    project.cleanup()
  })

  const spansOf = (id: string): ChildSpan[] => runtime.frames.flatMap((f: WorkerFrame) => (f.type === 'spans' && f.id === id ? f.spans : []))

  it('land in the invocation trace, children of the attempt span, sent before the result', async () => {
    const r = await runtime.invoke({
      id: 'inv-1',
      step: 'Traced',
      trigger: 'event',
      traceparent: `00-${TRACE}-${PARENT}-01`,
      input: { topic: 'traced', data: {}, eventId: 'e1' },
    })
    expect(r.ok).toBe(true)
    const spans = spansOf('inv-1')
    expect(spans.map((s) => s.name).sort()).toEqual(['inner', 'load order'])
    const load = spans.find((s) => s.name === 'load order')
    const inner = spans.find((s) => s.name === 'inner')
    expect(load).toMatchObject({ parentSpanId: PARENT, kind: 'internal', status: 'error', statusMessage: 'declined', attributes: { 'order.id': 'o-1' } })
    expect(inner?.parentSpanId).toBe(load?.spanId)
    expect(load?.spanId).toMatch(/^[0-9a-f]{16}$/)
    expect(load && load.endMs - load.startMs).toBeGreaterThanOrEqual(4)
    const spansAt = runtime.frames.findIndex((f) => f.type === 'spans' && f.id === 'inv-1')
    const resultAt = runtime.frames.findIndex((f) => f.type === 'result' && f.id === 'inv-1')
    expect(spansAt).toBeLessThan(resultAt)
    // The handler saw the attempt's context as the active span: the same trace id everywhere.
    const log = runtime.frames.flatMap((f) => (f.type === 'log' ? (f as LogFrame).entries : [])).find((e) => e.msg === 'traced' && e.invocationId === 'inv-1')
    expect(log?.data).toMatchObject({ traceId: TRACE, spanId: PARENT })
  })

  it('records nothing for an unsampled trace or without a traceparent', async () => {
    await runtime.invoke({
      id: 'inv-2',
      step: 'Traced',
      trigger: 'event',
      traceparent: `00-${TRACE}-${PARENT}-00`,
      input: { topic: 'traced', data: {}, eventId: 'e2' },
    })
    await runtime.invoke({ id: 'inv-3', step: 'Traced', trigger: 'event', input: { topic: 'traced', data: {}, eventId: 'e3' } })
    await runtime.invoke({ id: 'inv-4', step: 'Traced', trigger: 'event', traceparent: 'garbage', input: { topic: 'traced', data: {}, eventId: 'e4' } })
    expect(spansOf('inv-2')).toEqual([])
    expect(spansOf('inv-3')).toEqual([])
    expect(spansOf('inv-4')).toEqual([])
  })

  it('bounds what hostile step code can send', async () => {
    await runtime.invoke({
      id: 'inv-5',
      step: 'Traced',
      trigger: 'event',
      traceparent: `00-${TRACE}-${PARENT}-01`,
      input: { topic: 'traced', data: { spans: 2000 }, eventId: 'e5' },
    })
    const frames = runtime.frames.filter((f) => f.type === 'spans' && f.id === 'inv-5')
    expect(spansOf('inv-5')).toHaveLength(MAX_SPANS)
    expect(frames.every((f) => f.type === 'spans' && f.spans.length <= MAX_SPANS_PER_FRAME)).toBe(true)
    await runtime.invoke({
      id: 'inv-6',
      step: 'Traced',
      trigger: 'event',
      traceparent: `00-${TRACE}-${PARENT}-01`,
      input: { topic: 'traced', data: { spans: 1, huge: true }, eventId: 'e6' },
    })
    const huge = spansOf('inv-6').find((s) => s.name.startsWith('nnn'))
    expect(huge?.name.length).toBe(256)
    expect(Object.keys(huge?.attributes ?? {})).toHaveLength(MAX_ATTRIBUTES)
    expect(Object.values(huge?.attributes ?? {}).every((v) => String(v).length <= 1024)).toBe(true)
  })

  it('parses only valid version-00 traceparents', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`)).toMatchObject({ traceId: TRACE, spanId: PARENT, traceFlags: 1, isRemote: true })
    for (const bad of [
      '',
      'x',
      `00-${'0'.repeat(32)}-${PARENT}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `01-${TRACE}-${PARENT}-01`,
      `00-${TRACE.toUpperCase()}-${PARENT}-01`,
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined()
    }
  })
})
