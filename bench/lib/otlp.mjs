// `node bench/run.mjs api --otlp`: a second runtime on the same database with OTLP export on (spans and logs, to a
// local sink: bench/lib/otlp-sink.mjs) and `/metrics` scraped every second while it is measured, with its own
// worker; the api benchmark compares it with bare Node and with the first runtime (export off, not scraped).
import { join } from 'node:path'
import { BenchError, freePort, median, round, say, sleep, startChild, stopChild, withTimeout } from './proc.mjs'
import { expectStatus, startRuntime, startWorker } from './services.mjs'

/** Starts the sink, the export-on runtime and its worker: { sink, sinkUrl, runtime, worker, base }. */
export async function startOtlpSide(root, { runtimeBin, dbUrl, tmp, logDir, workerMain, projectDir, expectedSteps }) {
  const port = await freePort()
  let ready
  const readyP = new Promise((r) => (ready = r))
  const sink = startChild('otlp-sink', process.execPath, [join(root, 'bench/lib/otlp-sink.mjs'), String(port)], {
    logDir,
    onLine: (l) => l.includes('"ready":true') && ready(),
  })
  await withTimeout(Promise.race([readyP, sink.exited]), 30_000, 'bench/lib/otlp-sink.mjs did not start')
  if (!sink.running()) throw new BenchError(`the OTLP sink exited: ${sink.tail()}`)
  const sinkUrl = `http://127.0.0.1:${port}`
  // Every trace sampled (the most export work); logs on (the default with an endpoint); metrics on (the default).
  const runtime = await startRuntime(runtimeBin, dbUrl, tmp, logDir, {
    name: 'runtime-otlp',
    env: { CFP_OTLP_ENDPOINT: sinkUrl, CFP_TRACE_SAMPLE_RATIO: '1', CFP_OTLP_LOGS: 'on', CFP_METRICS: 'on' },
  })
  const worker = await startWorker(workerMain, projectDir, runtime.port, runtime.workerToken, logDir, expectedSteps, 'worker-otlp')
  const base = `http://127.0.0.1:${runtime.port}`
  const health = await expectStatus(`${base}/__cfp/health`, {}, 200)
  if (JSON.parse(health.text).workers < 1) throw new BenchError(`the export-on runtime shows no worker: ${health.text}`)
  return { sink, sinkUrl, runtime, worker, base }
}

/** Scrapes `/metrics` every `everyMs` until stopped; resolves { scrapes, failures, maxMs }. */
export function scrapeEvery(base, token, everyMs = 1000) {
  let stop = false
  const stats = { scrapes: 0, failures: 0, maxMs: 0 }
  const loop = (async () => {
    while (!stop) {
      const t = performance.now()
      try {
        const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) })
        await res.text()
        if (res.ok) stats.scrapes++
        else stats.failures++
      } catch {
        stats.failures++
      }
      stats.maxMs = Math.max(stats.maxMs, Math.round(performance.now() - t))
      await sleep(everyMs)
    }
    return stats
  })()
  return async () => {
    stop = true
    return loop
  }
}

/** The export-on side's results over the api rounds (each with `cfpOtlp`, `otlpVsBare`, `otlpVsOff`). */
export async function otlpSummary(side, rounds) {
  await sleep(1500) // the last partial batch (1 s batch delay)
  const totals = await otlpTotals(side)
  const med = (f) => round(median(rounds.map(f)), 3)
  const o = {
    maxRps: med((x) => x.cfpOtlp.max.rps),
    maxP50Ms: med((x) => x.cfpOtlp.max.p50Ms),
    maxP99Ms: med((x) => x.cfpOtlp.max.p99Ms),
    errors: rounds.reduce((n, x) => n + x.cfpOtlp.max.errors, 0),
    maxCpu: rounds.at(-1).cfpOtlp.maxCpu,
    scrapes: rounds.at(-1).cfpOtlp.scrapes,
    vsBare: med((x) => x.otlpVsBare),
    vsOff: med((x) => x.otlpVsOff),
    vsBareRounds: rounds.map((x) => x.otlpVsBare),
    vsOffRounds: rounds.map((x) => x.otlpVsOff),
    ...totals,
  }
  say(
    `api --otlp: export on ${o.maxRps} rps: ${o.vsBare} of bare, ${o.vsOff} of export off; ` +
      `exported ${o.exportedSpans} spans, ${o.exportedLogs} logs; dropped ${o.droppedSpans} spans, ${o.droppedLogs} logs; ` +
      `sink got ${JSON.stringify(totals.sink)}`,
  )
  return o
}

/** What the export did: the runtime's own counters (`cfp_otlp_*`) and what the sink received. */
async function otlpTotals(side) {
  const res = await fetch(`${side.base}/metrics`, { headers: { authorization: `Bearer ${side.runtime.adminToken}` } })
  const text = await res.text()
  const sum = (re) => text.split('\n').filter((l) => re.test(l)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0)
  const sink = await (await fetch(`${side.sinkUrl}/stats`)).json()
  return {
    exportedSpans: sum(/^cfp_otlp_exported_total\{signal="spans"\}/),
    exportedLogs: sum(/^cfp_otlp_exported_total\{signal="logs"\}/),
    droppedSpans: sum(/^cfp_otlp_dropped_total\{signal="spans"/),
    droppedLogs: sum(/^cfp_otlp_dropped_total\{signal="logs"/),
    sink,
  }
}

export async function stopOtlpSide(side) {
  if (!side) return
  for (const h of [side.worker, side.runtime?.h, side.sink]) if (h) await stopChild(h, h === side.runtime?.h ? 15_000 : 5000)
}
