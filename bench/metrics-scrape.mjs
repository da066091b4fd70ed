#!/usr/bin/env node
// Scrape cost of the runtime's `/metrics` with many series, and the API throughput with metrics on vs off.
//
//   cargo build --release -p cfp-runtime -p cfp-loadgen   (debug builds are used when no release build exists)
//   node bench/metrics-scrape.mjs [--steps 460] [--scrapes 200] [--seconds 5] [--rounds 2] [--bin target/release/cfp-runtime]
//
// 1. Starts cfp-runtime (dev mode: loopback needs no token; its own database, dropped at the end) and a scripted
//    worker (in this process, over the worker protocol) hosting `--steps` event steps and one API step `GET /hello`.
// 2. Emits one event per event step and waits until each completed: every step then has its series (5 outcomes,
//    a duration histogram of 13+ buckets, retries): about 24 per step, so 460 steps ≈ 10,000 series.
// 3. Scrapes `/metrics` `--scrapes` times one after another and reports p50/p99 (target: p99 < 50 ms) and the
//    number of series exposed.
// 4. Drives `GET /hello` with cfp-loadgen (closed loop, 32 connections) for `--seconds`, metrics on, then again on a
//    runtime started with `CFP_METRICS=off`, `--rounds` times interleaved; reports the median throughput ratio.
//
// Prints one JSON object. Loopback only; every phase is bounded.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import WebSocket from 'ws'
import { median, say, sleep, startChild, stopChild, withTimeout } from './lib/proc.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : dflt
}
const STEPS = Number(arg('steps', '460'))
const SCRAPES = Number(arg('scrapes', '200'))
const SECONDS = Number(arg('seconds', '5'))
const ROUNDS = Number(arg('rounds', '2'))
const BIN = arg('bin', existsSync(join(ROOT, 'target/release/cfp-runtime')) ? 'target/release/cfp-runtime' : 'target/debug/cfp-runtime')
const LOADGEN = join(ROOT, existsSync(join(ROOT, 'target/release/cfp-loadgen')) ? 'target/release/cfp-loadgen' : 'target/debug/cfp-loadgen')
const PG = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const limit = setTimeout(() => {
  console.error('metrics-scrape: time limit (600 s) reached')
  process.exit(2)
}, 600_000)
limit.unref()

/** Starts a runtime with `extraEnv` on its own database; resolves to { h, base, token }. */
async function runtime(dbUrl, tmp, extraEnv) {
  const token = `wt-${randomBytes(16).toString('hex')}`
  let ready
  const readyP = new Promise((r) => (ready = r))
  const h = startChild('runtime', join(ROOT, BIN), [], {
    env: {
      ...process.env,
      DATABASE_URL: dbUrl,
      CFP_LISTEN: '127.0.0.1:0',
      CFP_WORKER_TOKEN: token,
      CFP_DEV: 'true',
      CFP_DATA_DIR: join(tmp, `data-${randomBytes(3).toString('hex')}`),
      CFP_LOG: 'warn',
      CFP_MAX_STEPS_PER_REGISTRATION: String(Math.max(1000, STEPS + 10)),
      ...extraEnv,
    },
    onLine: (line, stream) => {
      if (stream !== 'stdout') return
      try {
        const v = JSON.parse(line)
        if (v?.ready) ready(v)
      } catch {}
    },
  })
  const r = await withTimeout(readyP, 120_000, `the runtime did not start:\n${h.tail()}`)
  return { h, base: `http://${r.addr}`, token }
}

/** A worker hosting `steps` event steps and `GET /hello`, answering every invocation at once. */
async function worker(base, token, steps) {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/__cfp/worker`)
  await new Promise((res, rej) => {
    ws.once('open', res)
    ws.once('error', rej)
  })
  const manifests = [{ name: 'Hello', type: 'api', file: 'steps/hello.step.ts', method: 'GET', path: '/hello', emits: [] }]
  for (let i = 0; i < steps; i++) manifests.push({ name: `S${i}`, type: 'event', file: `steps/s${i}.step.ts`, subscribes: [`t${i}`], emits: [] })
  let registered
  const registeredP = new Promise((r) => (registered = r))
  ws.on('message', (data) => {
    const f = JSON.parse(String(data))
    if (f.type === 'welcome') ws.send(JSON.stringify({ type: 'register', steps: manifests }))
    else if (f.type === 'registered') registered(f)
    else if (f.type === 'invoke') {
      const output = f.step === 'Hello' ? { status: 200, body: { message: 'hello' } } : undefined
      ws.send(JSON.stringify({ type: 'result', id: f.id, ok: true, ...(output ? { output } : {}) }))
    } else if (f.type === 'ping') ws.send(JSON.stringify({ type: 'pong', ts: f.ts }))
  })
  ws.send(JSON.stringify({ type: 'hello', protocol: 1, token, worker: { name: 'bench' }, capacity: 1024 }))
  const r = await withTimeout(registeredP, 60_000, 'the worker did not register')
  if (r.errors?.length) throw new Error(`registration errors: ${JSON.stringify(r.errors.slice(0, 3))}`)
  return ws
}

async function scrape(base) {
  const t0 = performance.now()
  const res = await fetch(`${base}/metrics`)
  const text = await res.text()
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text.slice(0, 200)}`)
  return { ms: performance.now() - t0, text }
}

const okTotal = (text) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('cfp_step_invocations_total{') && l.includes('outcome="ok"') && !l.includes('step="Hello"'))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)

async function load(base) {
  let out = ''
  const h = startChild('loadgen', LOADGEN, ['max', '--url', `${base}/hello`, '--connections', '32', '--seconds', String(SECONDS)], {
    onLine: (line, stream) => stream === 'stdout' && (out += line),
  })
  await withTimeout(h.exited, (SECONDS + 30) * 1000, 'cfp-loadgen did not finish')
  return JSON.parse(out)
}

const admin = new pg.Client({ connectionString: PG })
await admin.connect()
const dbs = []
const tmp = mkdtempSync(join(tmpdir(), 'cfp-metrics-bench-'))
const procs = []
async function freshDb() {
  const name = `cfp_bench_metrics_${randomBytes(4).toString('hex')}`
  await admin.query(`CREATE DATABASE ${name}`)
  dbs.push(name)
  return PG.replace(/\/[^/]*$/, `/${name}`)
}

const result = { steps: STEPS, scrapes: SCRAPES, runtime: BIN, loadgen: LOADGEN.slice(ROOT.length + 1) }
try {
  say(`runtime with ${STEPS} event steps (${BIN})`)
  const on = await runtime(await freshDb(), tmp, {})
  procs.push(on.h)
  const ws = await worker(on.base, on.token, STEPS)
  for (let i = 0; i < STEPS; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, STEPS - i) }, (_, j) =>
        fetch(`${on.base}/__cfp/api/emit`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: `t${i + j}`, data: {} }),
        }).then((r) => {
          if (r.status >= 300) throw new Error(`emit answered ${r.status}`)
        }),
      ),
    )
  }
  const until = Date.now() + 120_000
  let text = ''
  while (Date.now() < until) {
    text = (await scrape(on.base)).text
    if (okTotal(text) >= STEPS) break
    await sleep(200)
  }
  if (okTotal(text) < STEPS) throw new Error(`only ${okTotal(text)} of ${STEPS} deliveries completed`)
  result.series = text.split('\n').filter((l) => l && !l.startsWith('#')).length
  result.exposition_bytes = Buffer.byteLength(text)
  const times = []
  for (let i = 0; i < SCRAPES; i++) times.push((await scrape(on.base)).ms)
  times.sort((a, b) => a - b)
  const pct = (p) => Math.round(times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] * 100) / 100
  result.scrape_ms = { p50: pct(50), p99: pct(99), max: pct(100) }
  result.scrape_p99_under_50ms = pct(99) < 50
  say(`scrape p50 ${pct(50)} ms, p99 ${pct(99)} ms over ${SCRAPES} scrapes of ${result.series} series`)

  if (existsSync(LOADGEN)) {
    const off = await runtime(await freshDb(), tmp, { CFP_METRICS: 'off' })
    procs.push(off.h)
    // The same steps as the metrics-on runtime (their dispatchers poll alike); only metrics differ.
    const ws2 = await worker(off.base, off.token, STEPS)
    const ratios = []
    const rounds = []
    for (let r = 0; r < ROUNDS; r++) {
      const a = await load(on.base)
      const b = await load(off.base)
      rounds.push({ on_rps: Math.round(a.rps), off_rps: Math.round(b.rps), on_errors: a.errors, off_errors: b.errors })
      ratios.push(a.rps / b.rps)
    }
    result.api = { rounds, ratio_on_vs_off: Math.round(median(ratios) * 1000) / 1000 }
    say(`API throughput with metrics on / off: ${result.api.ratio_on_vs_off}`)
    ws2.close()
  } else {
    result.api = 'skipped: cfp-loadgen is not built (cargo build --release -p cfp-loadgen)'
  }
  ws.close()
} finally {
  for (const h of procs) await stopChild(h)
  for (const d of dbs) await admin.query(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`).catch(() => {})
  await admin.end()
  rmSync(tmp, { recursive: true, force: true })
}
console.log(JSON.stringify(result, null, 2))
