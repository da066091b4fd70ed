/**
 * `bench/run.mjs seq40`: 40 event steps in sequence, timed from the client and from the queue rows' own
 * timestamps. `RUN` is run.mjs's environment (runtime, database clients, base URL), `CFG` its options.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { pgSampler } from './pg-sampler.mjs'
import { BenchError, cpuSnap, cpuUse, median, round, say, sleep } from './proc.mjs'
import { expectStatus } from './services.mjs'

/**
 * One seq40 run. Completion is detected by polling Seq40's queue row; to keep the poller from loading the
 * machine while the sequence runs, it polls every 10 ms until the runtime's NOTIFY for Seq40 (sent when
 * Seq39's completion commits) arrives, then every 1 ms.
 */
async function seqRun(RUN, { queue: Q, tenant: TENANT, project: PROJECT }, run) {
  let notified = false
  RUN.onSeq40 = () => (notified = true)
  const t0 = performance.now()
  const res = await fetch(`${RUN.base}/seq/start`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ run }),
    signal: AbortSignal.timeout(10_000),
  })
  await res.text()
  if (res.status !== 202) throw new BenchError(`seq40: POST /seq/start answered ${res.status}`)
  const tAccepted = performance.now()
  const traceId = res.headers.get('x-trace-id')
  const deadline = t0 + 30_000
  for (;;) {
    const r = await RUN.db.query(`SELECT status FROM ${Q} WHERE tenant_id = $2 AND project_id = $3 AND step = 'Seq40' AND data->>'run' = $1`, [
      run,
      TENANT,
      PROJECT,
    ])
    if (r.rows[0]?.status === 2) break
    if (performance.now() > deadline) throw new BenchError(`seq40: run ${run} did not reach Seq40 within 30 s`)
    await sleep(notified ? 1 : 10)
  }
  const clientMs = performance.now() - t0
  RUN.onSeq40 = undefined
  // Server-side timing from the rows of this run: Seq01's row is created when the API step's emit commits;
  // each finished_at is the start of the transaction that completed the delivery (and published the next event).
  const rows = await RUN.db.query(
    `SELECT step, extract(epoch FROM created_at) * 1000 AS created_ms, extract(epoch FROM finished_at) * 1000 AS finished_ms
       FROM ${Q} WHERE tenant_id = $2 AND project_id = $3 AND step LIKE 'Seq%' AND data->>'run' = $1 ORDER BY step`,
    [run, TENANT, PROJECT],
  )
  if (rows.rows.length !== 40) throw new BenchError(`seq40: run ${run} has ${rows.rows.length} queue rows, expected 40`)
  const first = rows.rows[0]
  const last = rows.rows[39]
  const hops = []
  let prev = first.created_ms
  for (const r of rows.rows) {
    hops.push(r.finished_ms - prev)
    prev = r.finished_ms
  }
  return {
    run,
    traceId,
    clientMs: round(clientMs, 2),
    acceptMs: round(tAccepted - t0, 2),
    serverMs: round(last.finished_ms - first.created_ms, 2),
    hopMedianMs: round(median(hops), 2),
    hopMaxMs: round(Math.max(...hops), 2),
  }
}

export async function benchSeq40(RUN, CFG, where) {
  const { tenant: TENANT, project: PROJECT } = where
  const tag = randomBytes(3).toString('hex')
  await expectStatus(`${RUN.base}/__cfp/health`, {}, 200)
  RUN.listen = new pg.Client({ connectionString: RUN.dbUrl })
  await RUN.listen.connect()
  RUN.listen.on('notification', (n) => n.payload === `${TENANT}/${PROJECT}/Seq40` && RUN.onSeq40?.())
  await RUN.listen.query('LISTEN cfp_queue')
  say('seq40: warm-up run')
  const warmup = await seqRun(RUN, where, `warm-${tag}`)
  const runs = []
  const roles = { runtime: RUN.runtime.h, worker: RUN.worker }
  const a = await cpuSnap(roles)
  const stopSampler = pgSampler(RUN.mon, RUN.dbPid)
  for (let i = 1; i <= CFG.seqRuns; i++) {
    await sleep(200)
    const r = await seqRun(RUN, where, `r${i}-${tag}`)
    runs.push(r)
    say(`seq40: run ${i}/${CFG.seqRuns}: ${r.clientMs} ms (server ${r.serverMs} ms, median hop ${r.hopMedianMs} ms)`)
  }
  const b = await cpuSnap(roles)
  const pgActivity = await stopSampler()
  await RUN.listen.end().catch(() => {})
  RUN.listen = undefined
  const client = runs.map((r) => r.clientMs)
  return {
    runs,
    warmup,
    medianMs: round(median(client), 2),
    bestMs: round(Math.min(...client), 2),
    worstMs: round(Math.max(...client), 2),
    serverMedianMs: round(median(runs.map((r) => r.serverMs)), 2),
    hopMedianMs: round(median(runs.map((r) => r.hopMedianMs)), 2),
    cpu: cpuUse(a, b),
    pg: pgActivity,
  }
}
