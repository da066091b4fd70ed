import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AccessResultFrame, ApiInput, HelloFrame, RegisterFrame, ResultFrame } from '../frame-types.js'
import { FakeRuntime, tempProject } from '../test-support/fake-runtime.js'
import { type RegisteredInfo, startWorker, type WorkerHandle } from './worker.js'

const apiInput = (over: Partial<ApiInput> & { json?: unknown }): ApiInput => {
  const { json, ...rest } = over
  const raw = JSON.stringify(json ?? {})
  return {
    method: 'POST',
    path: '/echo/7',
    pathParams: { id: '7' },
    queryParams: { tag: ['a', 'b'] },
    headers: { 'content-type': 'application/json', 'x-token': 'secret' },
    body: JSON.parse(raw) as unknown,
    rawBody: Buffer.from(raw).toString('base64'),
    ...rest,
  }
}

describe('startWorker against a fake runtime', () => {
  let runtime: FakeRuntime
  let worker: WorkerHandle
  let project: { dir: string; cleanup: () => void }
  const registered: RegisteredInfo[] = []
  const lines: string[] = []

  beforeAll(async () => {
    runtime = await FakeRuntime.start()
    project = tempProject('worker-project')
    worker = await startWorker({
      dir: project.dir,
      url: runtime.url,
      token: runtime.token,
      watch: true,
      name: 'test',
      printLogs: false,
      print: (l) => lines.push(l),
      onRegistered: (info) => registered.push(info),
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    })
    await runtime.waitFor((f) => f.type === 'register')
  })

  afterAll(async () => {
    await worker.stop()
    await runtime.close()
    project.cleanup()
  })

  it('says hello with the token, then registers the manifests', async () => {
    const hello = await runtime.waitFor<HelloFrame>((f) => f.type === 'hello')
    expect(hello).toMatchObject({ protocol: 2, token: 'test-token', worker: { name: 'test', pid: process.pid } })
    expect(runtime.frames[0]?.type).toBe('hello')
    const register = await runtime.waitFor<RegisterFrame>((f) => f.type === 'register')
    expect(register.steps.map((s) => s.name).sort()).toEqual(['Echo', 'Job', 'Tick', 'Version'])
    expect(register.steps.find((s) => s.name === 'Echo')).toMatchObject({ file: 'steps/echo.step.ts', method: 'POST', bodySchema: { type: 'object' } })
    await expect.poll(() => registered.length).toBeGreaterThan(0)
    expect(registered[0]?.steps).toHaveLength(4)
  })

  it("registers the project's streams and answers access checks with their canAccess", async () => {
    const register = await runtime.waitFor<RegisterFrame>((f) => f.type === 'register')
    expect(register.streams).toEqual([expect.objectContaining({ name: 'chat', file: 'steps/chat.stream.ts', hasCanAccess: true, storageType: 'default' })])
    const ask = async (id: string, groupId: string, itemId: string | undefined, principal: string) => {
      const from = runtime.frames.length
      const frame: Record<string, unknown> = { type: 'access', id, stream: 'chat', groupId, authContext: { principal } }
      if (itemId !== undefined) frame.itemId = itemId
      runtime.send(frame)
      const answer = await runtime.waitFor<AccessResultFrame>((f) => f.type === 'access_result' && f.id === id, from)
      return answer.allowed
    }
    expect(await ask('a1', 'room', undefined, 'admin')).toBe(true)
    expect(await ask('a2', 'room', 'secret', 'admin')).toBe(false)
    expect(await ask('a3', 'room', 'x', 'developer')).toBe(false)
    expect(await ask('a4', 'boom', undefined, 'admin')).toBe(false)
    expect(lines.some((l) => l.includes("canAccess of stream 'chat'") && l.includes('canAccess exploded'))).toBe(true)
  })

  it('runs an api invocation through middleware and returns status, headers, body and emits', async () => {
    const r = await runtime.invoke({ step: 'Echo', trigger: 'api', input: apiInput({ json: { text: 'hi' } }) })
    expect(r).toMatchObject({
      ok: true,
      output: {
        status: 200,
        headers: { 'x-trace': `tr_${r.id}` },
        body: { id: '7', text: 'hi', raw: '{"text":"hi"}', q: { tag: ['a', 'b'] }, seen: true, key: `key_${r.id}` },
      },
      emits: [{ topic: 'echo.sent', data: { text: 'hi' } }],
    })
    expect(r.durationMs).toBeGreaterThanOrEqual(0)
  })

  it('parses the body itself when the runtime sends bodyFrom (protocol 2), above the payload threshold too', async () => {
    for (const text of ['hi', 'é'.repeat(200 * 1024)]) {
      const raw = JSON.stringify({ text })
      const { body: _, ...v1 } = apiInput({ json: { text } })
      const r = await runtime.invoke({ step: 'Echo', trigger: 'api', input: { ...v1, bodyFrom: 'json' } })
      expect(r).toMatchObject({ ok: true, output: { status: 200, body: { text, raw } } })
    }
  })

  it('lets middleware answer without calling the handler', async () => {
    const r = await runtime.invoke({ step: 'Echo', trigger: 'api', input: apiInput({ json: { text: 'x' }, headers: {} }) })
    expect(r).toMatchObject({ ok: true, output: { status: 401, body: { error: 'unauthorised' } }, emits: [] })
  })

  it('sends a binary body as base64', async () => {
    const r = await runtime.invoke({ step: 'Echo', trigger: 'api', input: apiInput({ json: { text: 'b', binary: true } }) })
    expect(r.output).toEqual({ status: 200, headers: { 'content-type': 'application/octet-stream' }, body: 'AAEC/w==', bodyEncoding: 'base64' })
  })

  it('reports NonRetriableError as retriable: false, and drops the emits of a failed handler', async () => {
    const nr = await runtime.invoke({ step: 'Echo', trigger: 'api', input: apiInput({ json: { text: 'x', fail: 'nonretriable' } }) })
    expect(nr).toMatchObject({ ok: false, error: { name: 'NonRetriableError', message: 'cannot echo that', retriable: false } })
    expect(nr.emits).toBeUndefined()
    const failed = await runtime.invoke({ step: 'Echo', trigger: 'api', input: apiInput({ json: { text: 'x', fail: 'after-emit' } }) })
    expect(failed).toMatchObject({ ok: false, error: { message: 'failed after emitting', retriable: true } })
    expect(failed.emits).toBeUndefined()
  })

  it('fails an emit to an undeclared topic, naming the allowed topics', async () => {
    const r = await runtime.invoke({ step: 'Job', trigger: 'event', input: { topic: 'job', data: { action: 'emit-bad' }, eventId: 'e1' } })
    expect(r.ok).toBe(false)
    expect(r.error?.message).toMatch(/'other\.topic'.*Allowed topics: 'job\.done', 'job\.audit'/)
  })

  it('round-trips state over call/reply and accepts the legacy emit({ type }) shape', async () => {
    const r = await runtime.invoke({ step: 'Job', trigger: 'event', input: { topic: 'job', data: { action: 'state', id: 'j1' }, eventId: 'e2' } })
    expect(r).toMatchObject({ ok: true, emits: [{ topic: 'job.done', data: { back: { id: 'j1', done: true }, count: 1 } }] })
    const calls = runtime.frames.filter((f) => f.type === 'call')
    expect(calls.map((c) => c.type === 'call' && c.method)).toEqual(['state.set', 'state.get', 'state.getGroup'])
    expect(calls[0]).toMatchObject({ params: { group: 'jobs', key: 'j1' }, traceId: `tr_${r.id}`, invocationId: r.id })
    const log = await runtime.waitFor((f) => f.type === 'log' && f.entries.some((e) => e.msg === 'stored'))
    expect(log.type === 'log' && log.entries.find((e) => e.msg === 'stored')).toMatchObject({
      level: 'info',
      step: 'Job',
      invocationId: r.id,
      data: { job: 'j1' },
    })
  })

  it('reports RetryAfterError with retryAfterMs, and runs cron handlers with ctx first', async () => {
    const ra = await runtime.invoke({ step: 'Job', trigger: 'event', input: { topic: 'job', data: { action: 'retry-after' }, eventId: 'e3' } })
    expect(ra.error).toMatchObject({ retriable: true, retryAfterMs: 1500 })
    const cron = await runtime.invoke({ step: 'Tick', trigger: 'cron', input: { scheduledAt: new Date().toISOString() } })
    expect(cron).toMatchObject({ ok: true, output: null, emits: [{ topic: 'anything.goes', data: 1, messageGroupId: 'g1' }] })
  })

  it('answers a malformed invoke with a failed result instead of leaving it to time out', async () => {
    const from = runtime.frames.length
    runtime.send({
      type: 'invoke',
      id: 'bad_1',
      step: 'Job',
      trigger: 'event',
      attempt: 1,
      traceId: 't',
      idempotencyKey: 'k',
      timeoutMs: 1000,
      input: { topic: 'job' },
    })
    const r = await runtime.waitFor<ResultFrame>((f) => f.type === 'result' && f.id === 'bad_1', from)
    expect(r).toMatchObject({ ok: false, error: { message: expect.stringContaining('invoke.input.data is required'), retriable: false } })
  })

  it('answers an unknown step with a failed result', async () => {
    const r = await runtime.invoke({ step: 'Nope', trigger: 'cron', input: { scheduledAt: 'x' } })
    expect(r).toMatchObject({ ok: false, error: { message: "step 'Nope' is not hosted by this worker" } })
  })

  it('re-registers within a second after a step file is rewritten, and runs the new code', async () => {
    const before = (await runtime.invoke({ step: 'Version', trigger: 'api', input: apiInput({ method: 'GET', path: '/version' }) })).output
    expect(before).toMatchObject({ body: { version: 1, helper: 'h1' } })
    const from = runtime.frames.length
    const saved = Date.now()
    writeFileSync(
      join(project.dir, 'steps/version.step.ts'),
      `import { helperVersion } from '../src/version-helper'
export const config = { type: 'api', name: 'Version', path: '/version', method: 'GET', emits: [], description: 'v2' }
export const handler = async () => ({ status: 200, body: { version: 2, helper: helperVersion } })
`,
    )
    const reg = await runtime.waitFor<RegisterFrame>((f) => f.type === 'register', from)
    expect(Date.now() - saved).toBeLessThan(1000)
    expect(reg.steps.find((s) => s.name === 'Version')?.description).toBe('v2')
    const after = await runtime.invoke({ step: 'Version', trigger: 'api', input: apiInput({ method: 'GET', path: '/version' }) })
    expect(after.output).toMatchObject({ body: { version: 2 } })

    // A helper change reloads the steps importing it.
    const from2 = runtime.frames.length
    writeFileSync(join(project.dir, 'src/version-helper.ts'), `export const helperVersion = 'h2'\n`)
    await runtime.waitFor((f) => f.type === 'register', from2)
    const helper = await runtime.invoke({ step: 'Version', trigger: 'api', input: apiInput({ method: 'GET', path: '/version' }) })
    expect(helper.output).toMatchObject({ body: { helper: 'h2' } })
  })

  it('finishes in-flight invocations on the old handler while a reload registers the new one', async () => {
    const slow = runtime.invoke({ step: 'Job', trigger: 'event', input: { topic: 'job', data: { action: 'slow' }, eventId: 'e10' } })
    await expect.poll(() => worker.inFlight()).toBe(1)
    const from = runtime.frames.length
    writeFileSync(
      join(project.dir, 'steps/job.step.ts'),
      `export const config = { type: 'event', name: 'Job', subscribes: ['job'], emits: ['job.done'] }
export const handler = async (_input: unknown, { emit }: any) => { await emit({ topic: 'job.done', data: { v: 2 } }) }
`,
    )
    await runtime.waitFor((f) => f.type === 'register', from)
    expect(worker.inFlight()).toBe(1)
    expect(await slow).toMatchObject({ ok: true, emits: [] })
    const fresh = await runtime.invoke({ step: 'Job', trigger: 'event', input: { topic: 'job', data: { action: 'slow' }, eventId: 'e11' } })
    expect(fresh.emits).toEqual([{ topic: 'job.done', data: { v: 2 } }])
  })

  it('unregisters a file that breaks on reload, keeping the others', async () => {
    const from = runtime.frames.length
    writeFileSync(
      join(project.dir, 'steps/version.step.ts'),
      'export const config = { type: "api", name: "Version", path: "/version", method: "FETCH", emits: [] }\nexport const handler = async () => ({ status: 200, body: {} })\n',
    )
    const reg = await runtime.waitFor<RegisterFrame>((f) => f.type === 'register', from)
    expect(reg.steps.map((s) => s.name).sort()).toEqual(['Echo', 'Job', 'Tick'])
    expect(lines.some((l) => l.includes("steps/version.step.ts: config.method: 'FETCH' is not an HTTP method"))).toBe(true)
    const r = await runtime.invoke({ step: 'Version', trigger: 'api', input: apiInput({ method: 'GET', path: '/version' }) })
    expect(r.ok).toBe(false)
  })

  it('reconnects after the connection drops and registers again', async () => {
    const from = runtime.frames.length
    const connections = runtime.connections
    runtime.dropConnection()
    await runtime.waitFor((f) => f.type === 'hello', from)
    await runtime.waitFor((f) => f.type === 'register', from)
    expect(runtime.connections).toBe(connections + 1)
    expect(lines.some((l) => l.includes('lost the connection to the runtime'))).toBe(true)
    const r = await runtime.invoke({ step: 'Tick', trigger: 'cron', input: { scheduledAt: 'now' } })
    expect(r.ok).toBe(true)
  })
})

describe('worker shutdown and session errors', () => {
  it('sends drain, finishes in-flight invocations, then closes', async () => {
    const runtime = await FakeRuntime.start()
    const project = tempProject('worker-project')
    try {
      const worker = await startWorker({ dir: project.dir, url: runtime.url, token: runtime.token, printLogs: false, print: () => undefined })
      await runtime.waitFor((f) => f.type === 'register')
      const pending = runtime.invoke({ step: 'Job', trigger: 'event', input: { topic: 'job', data: { action: 'slow' }, eventId: 'e9' } })
      await expect.poll(() => worker.inFlight()).toBe(1)
      const stopped = worker.stop()
      await runtime.waitFor((f) => f.type === 'drain')
      const result: ResultFrame = await pending
      expect(result.ok).toBe(true)
      await stopped
      await expect(worker.exited).resolves.toEqual({ reason: 'stopped' })
      const types = runtime.frames.map((f) => f.type)
      expect(types.indexOf('drain')).toBeLessThan(types.lastIndexOf('result'))
    } finally {
      await runtime.close()
      project.cleanup()
    }
  })

  it('stops with a fatal error when the runtime rejects the token', async () => {
    const runtime = await FakeRuntime.start()
    const project = tempProject('worker-project')
    const lines: string[] = []
    try {
      const worker = await startWorker({ dir: project.dir, url: runtime.url, token: 'wrong', printLogs: false, print: (l) => lines.push(l) })
      const exit = await worker.exited
      expect(exit).toMatchObject({ reason: 'fatal', message: expect.stringContaining('unauthenticated') })
      expect(lines.join('\n')).toContain('CFP_WORKER_TOKEN')
    } finally {
      await runtime.close()
      project.cleanup()
    }
  })

  it('keeps retrying while the runtime is unreachable, then connects', async () => {
    const probe = await FakeRuntime.start()
    const url = probe.url
    const port = Number(new URL(url).port)
    await probe.close()
    const project = tempProject('worker-project')
    const lines: string[] = []
    const worker = await startWorker({
      dir: project.dir,
      url,
      token: 'test-token',
      printLogs: false,
      print: (l) => lines.push(l),
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    })
    let runtime: FakeRuntime | undefined
    try {
      await expect.poll(() => lines.filter((l) => l.includes('cannot reach the runtime')).length).toBeGreaterThan(1)
      runtime = await FakeRuntime.start(port)
      await runtime.waitFor((f) => f.type === 'register')
    } finally {
      await worker.stop()
      await runtime?.close()
      project.cleanup()
    }
  })
})
