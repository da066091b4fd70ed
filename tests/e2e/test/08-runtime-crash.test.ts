/**
 * The runtime SIGKILLed under load and restarted (cfp-runtime and a worker run directly, not through cfp dev;
 * same DATABASE_URL and port across the restart). 300 orders go to POST /order (an API step emitting
 * `order.created` → RecordOrder → `order.done` → FinishOrder) with bounded concurrency, each with its own
 * Idempotency-Key; the runtime is killed half-way, restarted, and the client retries every order until it gets
 * a 2xx. Then: every accepted order has exactly one completion record from both event steps, no other order
 * has any, and the queue holds exactly one done row per (step, event). Handler executions beyond one per
 * delivery (at-least-once: the killed runtime's leases are reaped after ~15 s and run again) are counted and
 * printed.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { TestDb } from '../src/db.js'
import { childEnv, FIXTURES, runtimeBin, WORKER_MAIN } from '../src/env.js'
import { Proc } from '../src/procs.js'
import { copyProject, freePort, removeProject, sleep, waitFor } from '../src/util.js'

const TOTAL = 300
const CONCURRENCY = 8
const KILL_AFTER = 150

describe('runtime SIGKILL under load, then restart', () => {
  let db: TestDb
  let dir: string
  let port: number
  const workerToken = randomBytes(24).toString('hex') // hex: a value starting with '-' would read as an option
  const adminToken = randomBytes(24).toString('base64url')
  const runtimes: Proc[] = []
  let worker: Proc

  async function startRuntime(): Promise<Proc> {
    const n = runtimes.length + 1
    const proc = new Proc({
      name: `cfp-runtime #${n}`,
      command: runtimeBin(),
      args: [],
      cwd: dir,
      env: childEnv({
        DATABASE_URL: db.url,
        CFP_LISTEN: `127.0.0.1:${port}`,
        CFP_WORKER_TOKEN: workerToken,
        CFP_ADMIN_TOKEN: adminToken,
        CFP_DATA_DIR: join(dir, '.cfp', 'data'),
      }),
      logFile: join(dir, `runtime-${n}.log`),
    })
    runtimes.push(proc)
    await proc.waitForLine(/^\{.*"ready":true/, 60_000)
    return proc
  }

  beforeAll(async () => {
    dir = copyProject(join(FIXTURES, 'orders'))
    db = await TestDb.create()
    port = await freePort()
    await startRuntime()
    worker = new Proc({
      name: 'worker',
      command: process.execPath,
      args: [WORKER_MAIN, '--dir', dir, '--url', `ws://127.0.0.1:${port}/__cfp/worker`, '--token', workerToken],
      cwd: dir,
      env: childEnv(),
      logFile: join(dir, 'worker.log'),
    })
    await worker.waitForLine(/cfp-worker: registered 3 steps \(0 errors\)/, 60_000)
  }, 120_000)

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || ctx.task.fails) return
    for (const p of [...runtimes, worker]) if (p) console.error(`--- ${p.opts.name} (last 40 lines) ---\n${p.tail(40)}`)
  })

  afterAll(async () => {
    try {
      await Promise.all([worker?.stop('SIGTERM', 15_000), ...runtimes.map((r) => r.stop('SIGTERM', 20_000))])
    } finally {
      try {
        await db?.drop()
      } finally {
        if (dir) removeProject(dir)
      }
    }
  }, 90_000)

  it('loses nothing and completes every accepted order exactly once', async () => {
    const base = `http://127.0.0.1:${port}`
    const orders = Array.from({ length: TOTAL }, (_, i) => `o${String(i).padStart(3, '0')}-${randomBytes(2).toString('hex')}`)
    const accepted = new Set<string>()
    const failures = new Map<string, number>()
    const fail = (why: string) => failures.set(why, (failures.get(why) ?? 0) + 1)
    const deadline = Date.now() + 90_000

    async function send(orderId: string): Promise<void> {
      for (;;) {
        try {
          const res = await fetch(`${base}/order`, {
            method: 'POST',
            headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'idempotency-key': orderId },
            body: JSON.stringify({ orderId }),
            signal: AbortSignal.timeout(10_000),
          })
          const body = await res.text()
          if (res.status >= 200 && res.status < 300) {
            expect(JSON.parse(body)).toEqual({ orderId })
            accepted.add(orderId)
            return
          }
          fail(`HTTP ${res.status}`)
        } catch (err) {
          const cause = (err as { cause?: { code?: string } }).cause
          fail(cause?.code ?? (err as Error).name)
        }
        if (Date.now() > deadline) throw new Error(`order ${orderId} was never accepted`)
        await sleep(100)
      }
    }

    let next = 0
    const clients = Array.from({ length: CONCURRENCY }, async () => {
      while (next < orders.length) await send(orders[next++] as string)
    })

    let downMs = 0
    const crash = (async () => {
      await waitFor('half of the orders to be accepted', () => accepted.size >= KILL_AFTER, { timeoutMs: 60_000, intervalMs: 5 })
      const first = runtimes[0] as Proc
      const killedAt = Date.now()
      process.kill(first.pid, 'SIGKILL')
      await first.exited
      expect(first.exit?.signal).toBe('SIGKILL')
      await sleep(500)
      await startRuntime()
      downMs = Date.now() - killedAt
    })()

    await Promise.all([...clients, crash])
    expect(accepted.size).toBe(TOTAL)
    console.log(
      `runtime crash: all ${TOTAL} orders accepted; runtime down for ${downMs} ms; failed requests retried: ${JSON.stringify(Object.fromEntries(failures))}`,
    )
    expect(runtimes).toHaveLength(2)
    expect(failures.size).toBeGreaterThan(0) // the crash was felt by the client

    // both steps complete every order (the killed runtime's leases come back after ~15 s)
    const started = Date.now()
    await waitFor(
      'every order to complete both steps',
      async () => {
        const [row] = await db.query<{ done: string; done2: string; open: string }>(
          `SELECT (SELECT count(*) FROM cfp_runtime.state WHERE group_id = 'done') AS done,
                  (SELECT count(*) FROM cfp_runtime.state WHERE group_id = 'done2') AS done2,
                  (SELECT count(*) FROM cfp_runtime.queue WHERE status < 2) AS open`,
        )
        return Number(row?.done) >= TOTAL && Number(row?.done2) >= TOTAL && Number(row?.open) === 0
      },
      { timeoutMs: 75_000, intervalMs: 500 },
    )
    console.log(`runtime crash: every order completed ${Date.now() - started} ms after the last was accepted`)

    // exactly one completion record per accepted order, from each step; none for any other order
    for (const group of ['done', 'done2']) {
      const records = await db.stateGroup<{ orderId: string }>(group)
      const perOrder = new Map<string, string[]>()
      for (const [key, value] of records) perOrder.set(value.orderId, [...(perOrder.get(value.orderId) ?? []), key])
      const extra = [...perOrder.keys()].filter((id) => !accepted.has(id))
      expect(extra, `${group}: records of orders never accepted`).toEqual([])
      const missing = orders.filter((id) => !perOrder.has(id))
      expect(missing, `${group}: accepted orders without a record`).toEqual([])
      const doubled = [...perOrder.entries()].filter(([, keys]) => keys.length !== 1)
      expect(doubled, `${group}: orders with more than one completion record`).toEqual([])
      expect(records).toHaveLength(TOTAL)
    }

    // the queue: one done row per (step, event), one event per order
    const rows = await db.query<{ step: string; rows: string; events: string; orders: string; done: string }>(
      `SELECT step, count(*) AS rows, count(DISTINCT event_id) AS events, count(DISTINCT data->>'orderId') AS orders,
              count(*) FILTER (WHERE status = 2) AS done
         FROM cfp_runtime.queue GROUP BY step ORDER BY step`,
    )
    expect(rows.map((r) => ({ ...r, rows: Number(r.rows), events: Number(r.events), orders: Number(r.orders), done: Number(r.done) }))).toEqual([
      { step: 'FinishOrder', rows: TOTAL, events: TOTAL, orders: TOTAL, done: TOTAL },
      { step: 'RecordOrder', rows: TOTAL, events: TOTAL, orders: TOTAL, done: TOTAL },
    ])
    const dupes = await db.query(`SELECT step, event_id FROM cfp_runtime.queue GROUP BY step, event_id HAVING count(*) > 1`)
    expect(dupes).toEqual([])
    expect(await db.query(`SELECT id FROM cfp_runtime.dead_letters`)).toEqual([])

    // at-least-once: how many handler executions were repeats of a delivery
    const execCreated = (await db.stateGroup('exec-created')).length
    const execDone = (await db.stateGroup('exec-done')).length
    expect(execCreated).toBeGreaterThanOrEqual(TOTAL)
    expect(execDone).toBeGreaterThanOrEqual(TOTAL)
    const retried = await db.query<{ step: string; n: string }>(`SELECT step, count(*) AS n FROM cfp_runtime.queue WHERE attempt > 1 GROUP BY step`)
    console.log(
      `runtime crash: duplicate handler executions: RecordOrder ${execCreated - TOTAL}, FinishOrder ${execDone - TOTAL} ` +
        `(deliveries that needed more than one attempt: ${JSON.stringify(Object.fromEntries(retried.map((r) => [r.step, Number(r.n)])))})`,
    )
  })

  it('deduplicates a repeated request by its Idempotency-Key (and only by it)', async () => {
    const base = `http://127.0.0.1:${port}`
    const post = (orderId: string, key: string) =>
      fetch(`${base}/order`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ orderId }),
        signal: AbortSignal.timeout(10_000),
      })
    const orderId = `again-${randomBytes(3).toString('hex')}`
    expect((await post(orderId, `k1-${orderId}`)).status).toBe(201)
    expect((await post(orderId, `k1-${orderId}`)).status).toBe(201) // a client retry: same key, same event
    expect((await post(orderId, `k2-${orderId}`)).status).toBe(201) // a new request: a new event
    const rows = await waitFor('both events to complete both steps', async () => {
      const found = await db.query<{ step: string; status: number }>(`SELECT step, status FROM cfp_runtime.queue WHERE data->>'orderId' = $1 ORDER BY step`, [
        orderId,
      ])
      return found.length >= 4 && found.every((r) => r.status === 2) && found
    })
    await sleep(300)
    expect(await db.query(`SELECT step FROM cfp_runtime.queue WHERE data->>'orderId' = $1 ORDER BY step`, [orderId])).toEqual([
      { step: 'FinishOrder' },
      { step: 'FinishOrder' },
      { step: 'RecordOrder' },
      { step: 'RecordOrder' },
    ])
    expect(rows).toHaveLength(4)
    const done = (await db.stateGroup<{ orderId: string }>('done')).filter(([, v]) => v.orderId === orderId)
    expect(done).toHaveLength(2)
  })
})
