/**
 * Concurrency limits hold for a region, not for each replica: two real `cfp-runtime` replicas share one
 * PostgreSQL schema and one Redis (`--redis-url`), each with its own worker of the same project, behind a real
 * control plane. Requests and executions started on either replica count against the same
 * `maxConcurrentRequests` / `maxConcurrentExecutions`, and queue deliveries on one replica leave room for what
 * the other replica runs.
 */
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../../../packages/control-plane/src/test-support/harness.js'
import { seedWorld, type World } from '../../../packages/control-plane/src/test-support/world.js'
import { childEnv, FIXTURES, WORKER_MAIN } from '../src/env.js'
import { dropSchema, issuerOf, runtimeTokens, startControlledRuntime, type ControlledRuntime } from '../src/controlled.js'
import { Proc } from '../src/procs.js'
import { copyProject, http, removeProject, sleep, waitFor } from '../src/util.js'

const REDIS_URL = process.env.CFP_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

let h: Harness
let w: World
const replicas: ControlledRuntime[] = []
const workers: Proc[] = []
const schema = `rt_replicas_${randomBytes(4).toString('hex')}`
/** Replica 0's worker hosts every step but Job: jobs run on replica 1 only, beside what replica 0 runs. */
const projectDirs: string[] = []

const id = (node: string) => w.nodes[node]!.id as string
const admin = () => w.byName('t_admin').token

async function cp(method: string, path: string, body?: unknown) {
  const res = await h.request(method, path, { token: admin(), ...(body !== undefined ? { body } : {}) })
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.body}`)
  return res.json as any
}

let runtimeToken: (token: string) => Promise<string>

/** A call to replica `r` (0 or 1) as the tenant admin (with the runtime token its access token exchanges for). */
const call = async (r: number, path: string, init: RequestInit & { json?: unknown } = {}) =>
  http(replicas[r]!.base + path, {
    ...init,
    headers: { authorization: `Bearer ${await runtimeToken(admin())}`, 'x-cfp-project': id('A1'), ...(init.headers as Record<string, string>) },
  })

async function startReplica(n: number, issuer: string): Promise<void> {
  const runtime = await startControlledRuntime(h, { schema, issuer, name: `cfp-runtime ${n}`, args: ['--redis-url', REDIS_URL] })
  const base = runtime.base
  replicas.push(runtime)
  const created = await cp('POST', `/v1/projects/${id('A1')}/worker-tokens`, { name: `worker on replica ${n}` })
  const worker = new Proc({
    name: `worker ${n}`,
    command: process.execPath,
    args: [WORKER_MAIN, '--dir', projectDirs[n]!, '--url', `${base.replace('http', 'ws')}/__cfp/worker`, '--token', created.token],
    cwd: projectDirs[n]!,
    env: childEnv({ REPLICA: String(n) }),
  })
  workers.push(worker)
  await worker.waitForLine(/registered \d+ steps/, 60_000)
}

beforeAll(async () => {
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
  runtimeToken = runtimeTokens(h)
  await runtimeToken(admin()) // exchanged once up front: the concurrent calls below start together
  const issuer = issuerOf(admin())
  projectDirs.push(copyProject(join(FIXTURES, 'replicas')), copyProject(join(FIXTURES, 'replicas')))
  rmSync(join(projectDirs[0]!, 'steps', 'job.step.ts'))
  // one after the other: the first creates the schema
  await startReplica(0, issuer)
  await startReplica(1, issuer)
}, 180_000)

afterAll(async () => {
  for (const p of workers) await p.stop?.()
  for (const p of workers) p.signal('SIGKILL')
  await Promise.all(replicas.map((r) => r.stop()))
  await h?.close()
  await dropSchema(schema)
  for (const dir of projectDirs) removeProject(dir)
})

/** Holds one slow request on each replica, then asks replica 0 for a third while they run. */
async function thirdWhileTwoRun() {
  const held = [call(0, '/p/' + id('A1') + '/slow?ms=700'), call(1, '/p/' + id('A1') + '/slow?ms=700')]
  await sleep(200)
  const third = await call(0, '/p/' + id('A1') + '/slow?ms=0')
  return { held: await Promise.all(held), third }
}

describe('limits across two runtime replicas sharing Redis', () => {
  it('counts maxConcurrentRequests over both replicas', async () => {
    await cp('PUT', `/v1/projects/${id('A1')}/limits`, { maxConcurrentRequests: 2 })
    // replica 0 alone holds one request: a per-replica count would admit the third
    await waitFor(
      'the region-wide request limit refuses a third request',
      async () => {
        const { held, third } = await thirdWhileTwoRun()
        return held.every((r) => r.status === 200) && third.status === 429 && third.json.error.message.includes('maxConcurrentRequests (2) of project')
      },
      { timeoutMs: 8_000 },
    )
    // the places are given back: both replicas answer again
    await waitFor(
      'places released',
      async () => (await call(0, `/p/${id('A1')}/slow?ms=0`)).status === 200 && (await call(1, `/p/${id('A1')}/slow?ms=0`)).status === 200,
      { timeoutMs: 3_000 },
    )
    await cp('PUT', `/v1/projects/${id('A1')}/limits`, {})
  })

  it('counts maxConcurrentExecutions of API calls over both replicas', async () => {
    await cp('PUT', `/v1/projects/${id('A1')}/limits`, { maxConcurrentExecutions: 1 })
    await waitFor(
      'the region-wide execution limit refuses a call on the other replica',
      async () => {
        const first = call(0, `/p/${id('A1')}/slow?ms=600`)
        await sleep(200)
        const second = await call(1, `/p/${id('A1')}/slow?ms=0`)
        return (await first).status === 200 && second.status === 429 && second.json.error.message.includes('maxConcurrentExecutions (1) of the project')
      },
      { timeoutMs: 8_000 },
    )
    await cp('PUT', `/v1/projects/${id('A1')}/limits`, {})
  })

  it('runs queue deliveries no more than maxConcurrentExecutions at once, counting what the other replica runs', async () => {
    const LIMIT = 2
    const JOBS = 6
    const MS = 200
    await cp('PUT', `/v1/projects/${id('A1')}/limits`, { maxConcurrentExecutions: LIMIT })
    await waitFor(
      'the limit reached both replicas',
      async () => {
        const { third } = await thirdWhileTwoRun()
        return third.status === 429
      },
      { timeoutMs: 8_000 },
    )
    await sleep(800) // the probe's executions end
    const started = Date.now()
    // replica 0 runs one long execution; the jobs, which only replica 1 can run, have one place left
    const long = call(0, `/p/${id('A1')}/slow?ms=1500&log=1`)
    await sleep(150)
    const queued = await call(1, `/p/${id('A1')}/batch`, { method: 'POST', json: { count: JOBS, ms: MS } })
    expect(queued.status).toBe(202)
    expect((await long).status).toBe(200)
    type Line = { msg: string; data?: { n: number; at: number; replica?: string } }
    let lines: Line[] = []
    await waitFor(
      `${JOBS} jobs finished`,
      async () => {
        const res = await call(1, '/__cfp/api/logs?q=job&limit=500')
        lines = (res.json.logs as Line[]).filter((l) => l.data && l.data.at >= started)
        return lines.filter((l) => l.msg === 'job finished').length >= JOBS + 1
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    )
    const spans = new Map<number, { start: number; end: number; replica?: string }>()
    for (const l of lines) {
      const s = spans.get(l.data!.n) ?? { start: NaN, end: NaN }
      if (l.msg === 'job started') Object.assign(s, { start: l.data!.at, replica: l.data!.replica })
      if (l.msg === 'job finished') s.end = l.data!.at
      spans.set(l.data!.n, s)
    }
    const events = [...spans.values()].flatMap((s) => [
      { at: s.start, d: +1 },
      { at: s.end, d: -1 },
    ])
    events.sort((a, b) => a.at - b.at || a.d - b.d) // an end at the same millisecond as a start comes first
    let now = 0
    let peak = 0
    for (const e of events) peak = Math.max(peak, (now += e.d))
    const slow = spans.get(-1)!
    const duringSlow = [...spans.entries()].filter(([n, s]) => n >= 0 && s.start < slow.end).length
    const byReplica = [...new Set([...spans.values()].map((s) => s.replica))].sort()
    console.log(
      `limit ${LIMIT}: a 1500 ms call on replica 0 and ${JOBS} jobs of ${MS} ms: at most ${peak} at once ` +
        `(${duringSlow} jobs ran beside the call), jobs run by replicas ${byReplica.join(', ')}, in ${Date.now() - started} ms`,
    )
    expect(spans.size).toBe(JOBS + 1)
    expect(duringSlow, 'jobs ran while the long call held a place').toBeGreaterThan(0)
    expect(byReplica).toEqual(['0', '1']) // the call on replica 0, the jobs on replica 1
    // counted per replica, replica 1 would have run two jobs beside replica 0's call: three at once
    expect(peak).toBeLessThanOrEqual(LIMIT)
    await cp('PUT', `/v1/projects/${id('A1')}/limits`, {})
  }, 60_000)
})
