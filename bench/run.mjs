#!/usr/bin/env node
// CFP benchmarks: node bench/run.mjs [api|chain|seq40|all] [options]   (see bench/README.md)
// Starts the release runtime (own PostgreSQL database per run, dropped afterwards) and one worker hosting
// bench/project, runs the chosen benchmarks with bench/loadgen, prints a table and writes
// bench/results/<timestamp>.json (+ the child processes' logs in bench/results/<timestamp>-logs/).
// Every child process is killed at the end, also on failure, Ctrl-C or the global time limit.

import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { pgSampler } from './lib/pg-sampler.mjs'
import { benchSeq40 } from './lib/seq40.mjs'
import { backgroundLoad, report } from './lib/report.mjs'
import { expectStatus, startRuntime, startWorker } from './lib/services.mjs'
import { otlpSummary, scrapeEvery, startOtlpSide, stopOtlpSide } from './lib/otlp.mjs'
import {
  BenchError,
  setMonitor,
  sleep,
  round,
  median,
  stamp,
  startedWall,
  say,
  freePort,
  withTimeout,
  children,
  startChild,
  stopChild,
  cpuSnap,
  cpuUse,
  waitQuiet,
} from './lib/proc.mjs'

const ROOT = resolve(import.meta.dirname, '..')
let RUNTIME_BIN = join(ROOT, 'target/release/cfp-runtime')
let LOADGEN_BIN = join(ROOT, 'target/release/cfp-loadgen')
const WORKER_MAIN = join(ROOT, 'packages/worker/dist/main.js')
const PROJECT_DIR = join(ROOT, 'bench/project')
const RESULTS_DIR = join(ROOT, 'bench/results')
const SCHEMA = 'cfp_runtime'
const TENANT = 'default'
const PROJECT = 'default'
const BENCHES = ['api', 'chain', 'seq40']
/** Order of execution for `all`: seq40 runs before chain so it sees a small queue table. */
const ALL_ORDER = ['api', 'seq40', 'chain']
const TARGETS = { apiRatio: 0.5, apiHalfRateP99Ms: 10, chainExecPerSec: 2000, seq40MedianMs: 500, apiOtlpVsBare: 0.5, apiOtlpVsOff: 0.9 }

// ---------------------------------------------------------------------------------------------- options

const USAGE = `usage: node bench/run.mjs [api|chain|seq40|all ...] [options]
  --seconds S        length of each measured load phase (default 10)
  --warmup S         warm-up before each max-throughput phase (default 2)
  --connections N    HTTP connections of the load generator (default 64)
  --seq-runs N       measured seq40 repetitions (default 10, plus one warm-up run)
  --rounds N         api: rounds of (bare max, CFP max, bare half, CFP half); medians are reported (default 3)
  --backlog N        chain: chain.a events of the backlog phase (default 1000 x seconds)
  --quick            smoke run: --seconds 3 --warmup 1 --seq-runs 3 --rounds 1
  --build            run 'npm run build' and 'cargo build --release' first (done anyway when a binary is missing)
  --keep-db          do not drop the benchmark database (its name is printed)
  --quiet-wait S     before each benchmark, wait up to S s (default 30) for the machine to be quiet
                     (other processes using < 0.25 cores)
  --no-quiet-wait    same as --quiet-wait 0
  --pg-url URL       server to create the database on (default $BENCH_PG_URL or postgres://postgres@127.0.0.1:5432/test)
  --time-limit S     hard limit for the whole run (default 1500)
  --runtime-bin P    another cfp-runtime binary (A/B comparison of a runtime change; default $CFP_RUNTIME_BIN or
                     target/release/cfp-runtime)
  --debug            use the debug builds (target/debug/cfp-runtime, cfp-loadgen; built when missing): checks that
                     a mode runs end to end where no release build can be made — figures are not representative
  --otlp             api: also measure a second runtime with OTLP export on (spans and logs, to a local sink) and
                     /metrics scraped every second; reports its ratios vs bare Node (>= 0.5) and vs export off (>= 0.9)
  --db-set K=V       experiment: ALTER DATABASE <bench db> SET K = V before the runtime starts (repeatable),
                     e.g. --db-set synchronous_commit=off to see how much WAL flushing costs`

let opts
try {
  opts = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'seq-runs': { type: 'string' },
      rounds: { type: 'string' },
      backlog: { type: 'string' },
      quick: { type: 'boolean', default: false },
      build: { type: 'boolean', default: false },
      'keep-db': { type: 'boolean', default: false },
      'no-quiet-wait': { type: 'boolean', default: false },
      'quiet-wait': { type: 'string' },
      'pg-url': { type: 'string' },
      'time-limit': { type: 'string' },
      'runtime-bin': { type: 'string' },
      debug: { type: 'boolean', default: false },
      otlp: { type: 'boolean', default: false },
      'db-set': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
} catch (err) {
  console.error(`${err.message}\n${USAGE}`)
  process.exit(2)
}
if (opts.values.help) {
  console.log(USAGE)
  process.exit(0)
}
const num = (v, def, min, max) => {
  if (v === undefined) return def
  const n = Number(v)
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`invalid value '${v}' (expected a number in ${min}..${max})\n${USAGE}`)
    process.exit(2)
  }
  return n
}
const quick = opts.values.quick
const CFG = {
  seconds: num(opts.values.seconds, quick ? 3 : 10, 1, 120),
  warmup: num(opts.values.warmup, quick ? 1 : 2, 0, 60),
  connections: Math.round(num(opts.values.connections, 64, 1, 1024)),
  seqRuns: Math.round(num(opts.values['seq-runs'], quick ? 3 : 10, 1, 100)),
  rounds: Math.round(num(opts.values.rounds, quick ? 1 : 3, 1, 10)),
  backlog: Math.round(num(opts.values.backlog, 1000 * num(opts.values.seconds, quick ? 3 : 10, 1, 120), 0, 1_000_000)),
  timeLimitS: num(opts.values['time-limit'], 1500, 60, 7200),
  quietWaitS: opts.values['no-quiet-wait'] ? 0 : num(opts.values['quiet-wait'], 30, 0, 3600),
  dbSettings: (opts.values['db-set'] ?? []).map((kv) => {
    const m = /^([a-z_][a-z0-9_.]*)=([A-Za-z0-9_.-]+)$/.exec(kv)
    if (!m) {
      console.error(`--db-set expects name=value (letters, digits, _ . -), got '${kv}'`)
      process.exit(2)
    }
    return [m[1], m[2]]
  }),
  pgUrl: opts.values['pg-url'] ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  otlp: opts.values.otlp,
  debug: opts.values.debug,
}
if (CFG.debug) {
  RUNTIME_BIN = join(ROOT, 'target/debug/cfp-runtime')
  LOADGEN_BIN = join(ROOT, 'target/debug/cfp-loadgen')
}
const runtimeBin = opts.values['runtime-bin'] ?? process.env.CFP_RUNTIME_BIN
if (runtimeBin) RUNTIME_BIN = resolve(runtimeBin)
let selected = opts.positionals.length ? opts.positionals : ['all']
for (const s of selected) {
  if (s !== 'all' && !BENCHES.includes(s)) {
    console.error(`unknown benchmark '${s}'\n${USAGE}`)
    process.exit(2)
  }
}
selected = selected.includes('all') ? ALL_ORDER : ALL_ORDER.filter((b) => selected.includes(b))

// ---------------------------------------------------------------------------------------------- environment

let RUN = null // { dbName, admin, db, runtime, worker, bare, base, tmp, logDir }

function ensureBuilt() {
  const missing = [RUNTIME_BIN, LOADGEN_BIN, WORKER_MAIN].filter((p) => !existsSync(p))
  if (!opts.values.build && missing.length === 0) return
  if (missing.length) say(`missing ${missing.map((p) => relative(ROOT, p)).join(', ')}; building`)
  if (opts.values.build || missing.includes(WORKER_MAIN)) {
    say('npm run build')
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 })
  }
  if (!opts.values.build && !missing.includes(RUNTIME_BIN) && !missing.includes(LOADGEN_BIN)) return
  const profile = CFG.debug ? [] : ['--release']
  say(`cargo build ${profile.join(' ')} -p cfp-runtime -p cfp-loadgen`)
  execFileSync('cargo', ['build', ...profile, '-p', 'cfp-runtime', '-p', 'cfp-loadgen'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 1_200_000,
  })
}

function expectedStepCount() {
  let n = 0
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name))
      else if (/\.step\.ts$/.test(e.name)) n++
    }
  }
  walk(join(PROJECT_DIR, 'steps'))
  return n
}

/** Runs cfp-loadgen and returns its JSON result (the run is bounded: killed 30 s after its planned end). */
async function loadgen(mode, { url, method = 'GET', body, connections = CFG.connections, seconds, rate }) {
  const args = [mode, '--url', url, '--method', method, '--connections', String(connections), '--seconds', String(seconds)]
  if (body !== undefined) args.push('--body', JSON.stringify(body))
  if (mode === 'rate') args.push('--rate', String(Math.max(1, Math.round(rate))))
  let out = ''
  const h = startChild('loadgen', LOADGEN_BIN, args, { onLine: (line, stream) => stream === 'stdout' && (out += line) })
  const exit = await withTimeout(h.exited, (seconds + 30) * 1000, `cfp-loadgen ${mode} ${url} did not finish in time`).catch(async (err) => {
    await stopChild(h, 1000)
    throw err
  })
  if (exit.code !== 0) throw new BenchError(`cfp-loadgen ${args.join(' ')} failed (${JSON.stringify(exit)}): ${h.tail()}`)
  try {
    return JSON.parse(out)
  } catch {
    throw new BenchError(`cfp-loadgen printed no JSON: ${out.slice(0, 300)} ${h.tail()}`)
  }
}

/** A load phase with CPU accounting: { lg, cpu }. */
async function measured(mode, params) {
  const roles = {
    runtime: RUN.runtime.h,
    worker: RUN.worker,
    bareNode: RUN.bare,
    runtimeOtlp: RUN.otlp?.runtime.h,
    workerOtlp: RUN.otlp?.worker,
    otlpSink: RUN.otlp?.sink,
  }
  const a = await cpuSnap(roles)
  const lg = await loadgen(mode, params)
  const b = await cpuSnap(roles)
  return { lg, cpu: cpuUse(a, b, { loadgen: lg.cpuSeconds }) }
}

// ---------------------------------------------------------------------------------------------- queue queries

const Q = `${SCHEMA}.queue`

/** Deliveries not done yet (ready or leased), via the partial indexes. */
async function openDeliveries() {
  const r = await RUN.db.query(`SELECT (SELECT count(*) FROM ${Q} WHERE status = 0)::int AS ready, (SELECT count(*) FROM ${Q} WHERE status = 1)::int AS leased`)
  return r.rows[0].ready + r.rows[0].leased
}

/** Polls until every delivery is done; returns { drained, seconds, left }. */
async function waitDrained(maxMs) {
  const t0 = performance.now()
  for (;;) {
    const left = await openDeliveries()
    if (left === 0) return { drained: true, seconds: round((performance.now() - t0) / 1000, 2), left: 0 }
    if (performance.now() - t0 > maxMs) return { drained: false, seconds: round((performance.now() - t0) / 1000, 2), left }
    await sleep(200)
  }
}

async function deadLetterCount() {
  const r = await RUN.db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.dead_letters`)
  return r.rows[0].n
}

// ---------------------------------------------------------------------------------------------- benchmark: api

async function benchApi() {
  const port = await freePort()
  let ready
  const readyP = new Promise((r) => (ready = r))
  RUN.bare = startChild('bare-node', process.execPath, [join(ROOT, 'bench/bare-node.mjs'), String(port)], {
    logDir: RUN.logDir,
    onLine: (l) => l.includes('"ready":true') && ready(),
  })
  await withTimeout(Promise.race([readyP, RUN.bare.exited]), 30_000, 'bench/bare-node.mjs did not start')
  if (!RUN.bare.running()) throw new BenchError(`bench/bare-node.mjs exited: ${RUN.bare.tail()}`)
  const urls = { bare: `http://127.0.0.1:${port}/hello`, cfp: `${RUN.base}/hello` }
  if (CFG.otlp) {
    say('api --otlp: starting the OTLP sink and a runtime with export on')
    RUN.otlp = await startOtlpSide(ROOT, {
      runtimeBin: RUNTIME_BIN,
      dbUrl: RUN.dbUrl,
      tmp: RUN.tmp,
      logDir: RUN.logDir,
      workerMain: WORKER_MAIN,
      projectDir: PROJECT_DIR,
      expectedSteps: expectedStepCount(),
    })
    urls.cfpOtlp = `${RUN.otlp.base}/hello`
  }
  for (const [name, url] of Object.entries(urls)) {
    const { text } = await expectStatus(url, {}, 200)
    if (JSON.stringify(JSON.parse(text)) !== '{"message":"hello"}') throw new BenchError(`${name} ${url} answered ${text}`)
  }
  const rounds = []
  for (let r = 1; r <= CFG.rounds; r++) {
    const round_ = { bare: {}, cfp: {} }
    // Interleaved (bare, cfp, bare, cfp) so drifting background load hits both sides alike.
    for (const name of Object.keys(urls)) {
      round_[name] ??= {}
      if (CFG.warmup > 0) await loadgen('max', { url: urls[name], seconds: CFG.warmup })
      // What PostgreSQL does for hello-world API calls (sampled lightly, last round only).
      const stopSampler = name === 'cfp' && r === CFG.rounds ? pgSampler(RUN.mon, RUN.dbPid, 100) : null
      // With export on, /metrics is scraped every second meanwhile (as a Prometheus would, 15 times as often).
      const stopScrapes = name === 'cfpOtlp' ? scrapeEvery(RUN.otlp.base, RUN.otlp.runtime.adminToken, 1000) : null
      const m = await measured('max', { url: urls[name], seconds: CFG.seconds })
      if (stopSampler) round_.cfp.maxPg = await stopSampler()
      if (stopScrapes) round_.cfpOtlp.scrapes = await stopScrapes()
      round_[name].max = m.lg
      round_[name].maxCpu = m.cpu
      say(
        `api round ${r}/${CFG.rounds}: ${name} max ${m.lg.rps} rps (p50 ${m.lg.p50Ms} ms, p99 ${m.lg.p99Ms} ms, errors ${m.lg.errors}; other load ${m.cpu.other} cores)`,
      )
    }
    for (const name of ['bare', 'cfp']) {
      const rate = Math.max(1, Math.round(round_[name].max.rps / 2))
      const m = await measured('rate', { url: urls[name], seconds: CFG.seconds, rate })
      round_[name].half = m.lg
      round_[name].halfCpu = m.cpu
      say(
        `api round ${r}/${CFG.rounds}: ${name} at ${rate}/s: ${m.lg.rps} rps, p50 ${m.lg.p50Ms} ms, p99 ${m.lg.p99Ms} ms, errors ${m.lg.errors}; other load ${m.cpu.other} cores`,
      )
    }
    round_.ratio = round(round_.cfp.max.rps / round_.bare.max.rps, 3)
    if (CFG.otlp) {
      round_.otlpVsBare = round(round_.cfpOtlp.max.rps / round_.bare.max.rps, 3)
      round_.otlpVsOff = round(round_.cfpOtlp.max.rps / round_.cfp.max.rps, 3)
    }
    rounds.push(round_)
  }
  await stopChild(RUN.bare)
  RUN.bare = undefined
  let otlp
  if (CFG.otlp) {
    otlp = await otlpSummary(RUN.otlp, rounds)
    await stopOtlpSide(RUN.otlp)
    RUN.otlp = undefined
  }
  const med = (f) => round(median(rounds.map(f)), 3)
  const side = (name) => ({
    maxRps: med((x) => x[name].max.rps),
    maxP50Ms: med((x) => x[name].max.p50Ms),
    maxP99Ms: med((x) => x[name].max.p99Ms),
    halfRate: med((x) => x[name].half.targetRate),
    halfRps: med((x) => x[name].half.rps),
    halfP50Ms: med((x) => x[name].half.p50Ms),
    halfP99Ms: med((x) => x[name].half.p99Ms),
    halfP999Ms: med((x) => x[name].half.p999Ms),
    bestHalfP99Ms: Math.min(...rounds.map((x) => x[name].half.p99Ms)),
    errors: rounds.reduce((n, x) => n + x[name].max.errors + x[name].half.errors, 0),
    maxCpu: rounds.at(-1)[name].maxCpu,
    maxPg: rounds.at(-1)[name].maxPg,
    halfCpu: rounds.at(-1)[name].halfCpu,
  })
  const bare = side('bare')
  const cfp = side('cfp')
  return {
    connections: CFG.connections,
    seconds: CFG.seconds,
    warmupSeconds: CFG.warmup,
    bare,
    cfp,
    // median over rounds of the per-round ratio (each round's bare and CFP runs are adjacent in time)
    ratio: med((x) => x.ratio),
    ratios: rounds.map((x) => x.ratio),
    cfpHalfP99Ms: cfp.halfP99Ms,
    maxOtherLoad: Math.max(...rounds.flatMap((x) => [x.bare.maxCpu.other, x.cfp.maxCpu.other, x.bare.halfCpu.other, x.cfp.halfCpu.other])),
    otlp,
    rounds,
  }
}

// ---------------------------------------------------------------------------------------------- benchmark: chain

/** Throughput and latency of one driven phase of the chain, from the queue rows tagged with `phase`. */
async function chainStats(phase, loadStartMs, loadEndMs) {
  const counts = await RUN.db.query(
    `SELECT step, count(*)::int AS n,
            extract(epoch FROM min(finished_at)) * 1000 AS first_ms,
            extract(epoch FROM max(finished_at)) * 1000 AS last_ms,
            count(*) FILTER (WHERE finished_at <= to_timestamp($2::float8 / 1000))::int AS n_in_load
       FROM ${Q}
      WHERE tenant_id = $3 AND project_id = $4 AND step IN ('ChainA', 'ChainB') AND status = 2 AND data->>'phase' = $1
      GROUP BY step`,
    [phase, loadEndMs, TENANT, PROJECT],
  )
  const by = Object.fromEntries(counts.rows.map((r) => [r.step, r]))
  const A = by.ChainA ?? { n: 0 }
  const B = by.ChainB ?? { n: 0 }
  const lat = await RUN.db.query(
    `SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY l) AS p, max(l) AS max, min(t0) AS first_t0
       FROM (SELECT extract(epoch FROM finished_at) * 1000 - (data->>'t0')::float8 AS l, (data->>'t0')::float8 AS t0
               FROM ${Q}
              WHERE tenant_id = $2 AND project_id = $3 AND step = 'ChainB' AND status = 2 AND data->>'phase' = $1) x`,
    [phase, TENANT, PROJECT],
  )
  const L = lat.rows[0]
  const firstAny = Math.min(A.first_ms ?? Infinity, B.first_ms ?? Infinity)
  const lastAny = Math.max(A.last_ms ?? -Infinity, B.last_ms ?? -Infinity)
  const executions = A.n + B.n
  const inLoad = (A.n_in_load ?? 0) + (B.n_in_load ?? 0)
  const afterLoad = executions - inLoad
  return {
    chains: B.n,
    executions,
    stepA: A.n,
    stepB: B.n,
    // completed chains per second: first request's t0 to the last ChainB completion (includes the drain)
    chainsPerSec: round(B.n / ((B.last_ms - L.first_t0) / 1000)),
    // durable event-step executions per second: first to last ChainA/ChainB completion
    execPerSec: round(executions / ((lastAny - firstAny) / 1000)),
    // the same split into the load window (API traffic competing) and the drain after it (events only)
    execPerSecDuringLoad: round(inLoad / ((Math.min(loadEndMs, lastAny) - Math.max(firstAny, loadStartMs)) / 1000)),
    execPerSecAfterLoad: afterLoad > 100 ? round(afterLoad / ((lastAny - loadEndMs) / 1000)) : null,
    executionsDuringLoad: inLoad,
    e2eP50Ms: round(L.p?.[0]),
    e2eP90Ms: round(L.p?.[1]),
    e2eP99Ms: round(L.p?.[2]),
    e2eMaxMs: round(L.max),
  }
}

async function chainPhase(phase, mode, params, drainMs) {
  const roles = { runtime: RUN.runtime.h, worker: RUN.worker }
  const a = await cpuSnap(roles)
  let stopSampler = pgSampler(RUN.mon, RUN.dbPid)
  const loadStartMs = Date.now()
  const lg = await loadgen(mode, { url: `${RUN.base}/chain`, method: 'POST', body: { phase }, ...params })
  const loadEndMs = Date.now()
  const b = await cpuSnap(roles)
  const pgDuringLoad = await stopSampler()
  stopSampler = pgSampler(RUN.mon, RUN.dbPid)
  const backlogAtLoadEnd = await openDeliveries()
  const drain = await waitDrained(drainMs)
  const c = await cpuSnap(roles)
  const pgDuringDrain = await stopSampler()
  const stats = await chainStats(phase, loadStartMs, loadEndMs)
  return {
    api: lg,
    backlogAtLoadEnd,
    drain,
    ...stats,
    lost: lg.requests - stats.chains,
    cpuDuringLoad: cpuUse(a, b, { loadgen: lg.cpuSeconds }),
    cpuDuringDrain: drain.seconds >= 1 ? cpuUse(b, c) : null,
    pgDuringLoad,
    pgDuringDrain: drain.seconds >= 1 ? pgDuringDrain : null,
  }
}

/**
 * Event-step capacity alone: `n` chain.a events are inserted straight into the queue table (one transaction,
 * bypassing the API step), the ChainA dispatcher is woken, and ChainA + ChainB executions are counted until the
 * queue is empty. No HTTP traffic competes with the event steps here.
 */
async function chainBacklog(n, drainMs) {
  const roles = { runtime: RUN.runtime.h, worker: RUN.worker }
  await RUN.db.query('BEGIN')
  await RUN.db.query(
    `INSERT INTO ${Q} (tenant_id, project_id, step, event_id, topic, data, trace_id, max_retries)
     SELECT $2, $3, 'ChainA', gen_random_uuid(), 'chain.a',
            jsonb_build_object('t0', (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'phase', 'backlog'),
            'bench-backlog-' || g, 3
       FROM generate_series(1, $1::int) g`,
    [n, TENANT, PROJECT],
  )
  await RUN.db.query('COMMIT')
  const startMs = Date.now()
  const a = await cpuSnap(roles)
  const stopSampler = pgSampler(RUN.mon, RUN.dbPid)
  await RUN.db.query(`SELECT pg_notify('cfp_queue', $1)`, [`${TENANT}/${PROJECT}/ChainA`])
  const drain = await waitDrained(drainMs)
  const b = await cpuSnap(roles)
  const pg = await stopSampler()
  const stats = await chainStats('backlog', startMs, startMs)
  return {
    events: n,
    drain,
    chains: stats.chains,
    executions: stats.executions,
    execPerSec: stats.execPerSecAfterLoad,
    chainsPerSec: round(stats.chains / (drain.seconds || 1)),
    cpu: cpuUse(a, b),
    pg,
  }
}

async function benchChain() {
  const url = `${RUN.base}/chain`
  await expectStatus(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"phase":"smoke"}' }, 202)
  const drainMs = Math.max(120_000, CFG.seconds * 30_000)
  const smoke = await waitDrained(30_000)
  if (!smoke.drained) throw new BenchError('chain: one smoke request did not finish within 30 s')
  const res = { connections: CFG.connections, seconds: CFG.seconds }
  if (CFG.warmup > 0) {
    say(`chain: warm-up ${CFG.warmup}s`)
    await loadgen('max', { url, method: 'POST', body: { phase: 'warmup' }, seconds: CFG.warmup })
    await waitDrained(drainMs)
  }
  say(`chain: driving POST /chain at max rate for ${CFG.seconds}s (${CFG.connections} connections), then draining`)
  res.max = await chainPhase('max', 'max', { seconds: CFG.seconds }, drainMs)
  const m = res.max
  say(
    `chain: max: API ${m.api.rps} rps; ${m.chains} chains, ${m.chainsPerSec} chains/s, ${m.execPerSec} executions/s ` +
      `(during load ${m.execPerSecDuringLoad}, after ${m.execPerSecAfterLoad}); backlog ${m.backlogAtLoadEnd}, drained in ${m.drain.seconds}s`,
  )
  if (!m.drain.drained) throw new BenchError(`chain: the backlog did not drain within ${drainMs / 1000}s (${m.drain.left} left)`)
  const rate = Math.max(1, Math.round(0.7 * m.chainsPerSec))
  say(`chain: sustained ${rate} req/s (70% of ${m.chainsPerSec} chains/s) for ${CFG.seconds}s`)
  res.sustained = await chainPhase('sustained', 'rate', { seconds: CFG.seconds, rate }, drainMs)
  res.sustained.targetRate = rate
  const s = res.sustained
  say(
    `chain: sustained: API ${s.api.rps} rps (p99 ${s.api.p99Ms} ms); e2e p50 ${s.e2eP50Ms} ms p99 ${s.e2eP99Ms} ms; ` +
      `${s.execPerSec} executions/s; backlog at end ${s.backlogAtLoadEnd}`,
  )
  if (CFG.backlog > 0) {
    say(`chain: backlog phase: ${CFG.backlog} chain.a events inserted at once, event steps only`)
    res.backlog = await chainBacklog(CFG.backlog, drainMs)
    say(`chain: backlog: ${res.backlog.executions} executions, ${res.backlog.execPerSec} executions/s, drained in ${res.backlog.drain.seconds}s`)
  }
  res.deadLetters = await deadLetterCount()
  return res
}

// ---------------------------------------------------------------------------------------------- main

let cleaning = null
async function cleanup() {
  cleaning ??= (async () => {
    if (!RUN) return
    const runtimes = [RUN.runtime?.h, RUN.otlp?.runtime?.h]
    const order = [RUN.worker, RUN.otlp?.worker, RUN.bare, ...runtimes, RUN.otlp?.sink, ...[...children]]
    for (const h of order) if (h) await stopChild(h, runtimes.includes(h) ? 15_000 : 5000)
    for (const c of [RUN.db, RUN.mon, RUN.listen]) if (c) await c.end().catch(() => {})
    if (RUN.admin && RUN.dbName) {
      if (opts.values['keep-db']) say(`keeping database ${RUN.dbName} (--keep-db)`)
      else {
        await RUN.admin.query(`DROP DATABASE IF EXISTS "${RUN.dbName}" WITH (FORCE)`).catch((e) => say(`could not drop ${RUN.dbName}: ${e.message}`))
      }
      await RUN.admin.end().catch(() => {})
    }
    if (RUN.tmp) rmSync(RUN.tmp, { recursive: true, force: true })
  })()
  return cleaning
}

let interrupted = false
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    interrupted = true
    say(`${sig}: stopping`)
    cleanup().finally(() => process.exit(130))
  })
}

async function main() {
  const limit = setTimeout(() => {
    say(`time limit of ${CFG.timeLimitS}s reached; stopping`)
    cleanup().finally(() => process.exit(1))
  }, CFG.timeLimitS * 1000)
  limit.unref()

  ensureBuilt()
  const ts = stamp()
  const dbName = `cfp_bench_${ts.replace(/[^0-9]/g, '').slice(0, 14)}_${randomBytes(2).toString('hex')}`
  const logDir = join(RESULTS_DIR, `${ts}-logs`)
  mkdirSync(logDir, { recursive: true })
  RUN = { dbName, logDir, tmp: mkdtempSync(join(tmpdir(), 'cfp-bench-')) }

  const background = CFG.quietWaitS > 0 ? await waitQuiet(CFG.quietWaitS * 1000) : null
  if (background !== null && background >= 0.25) say(`note: the machine is busy (${background} cores used by other processes); figures will be noisy`)

  RUN.admin = new pg.Client({ connectionString: CFG.pgUrl })
  await withTimeout(RUN.admin.connect(), 30_000, `cannot connect to PostgreSQL at ${CFG.pgUrl}`)
  await RUN.admin.query(`CREATE DATABASE "${dbName}"`)
  for (const [k, v] of CFG.dbSettings) {
    await RUN.admin.query(`ALTER DATABASE "${dbName}" SET ${k} = '${v}'`)
    say(`experiment: ALTER DATABASE ${dbName} SET ${k} = '${v}'`)
  }
  const dbUrl = (() => {
    const u = new URL(CFG.pgUrl)
    u.pathname = `/${dbName}`
    return u.toString()
  })()
  const pgInfo = await RUN.admin.query(
    `SELECT version() AS version, current_setting('synchronous_commit') AS synchronous_commit, current_setting('fsync') AS fsync,
            current_setting('shared_buffers') AS shared_buffers, current_setting('max_connections') AS max_connections`,
  )
  say(`database ${dbName} created; starting the runtime`)

  // The export-off side: no OTLP endpoint, whatever the environment says.
  RUN.runtime = await startRuntime(RUNTIME_BIN, dbUrl, RUN.tmp, logDir, { env: { CFP_OTLP_ENDPOINT: '' } })
  RUN.base = `http://127.0.0.1:${RUN.runtime.port}`
  say(`runtime ready on ${RUN.runtime.addr}; starting the worker`)
  const expected = expectedStepCount()
  RUN.worker = await startWorker(WORKER_MAIN, PROJECT_DIR, RUN.runtime.port, RUN.runtime.workerToken, logDir, expected)
  say(`worker registered ${expected} steps`)
  RUN.dbUrl = dbUrl
  RUN.db = new pg.Client({ connectionString: dbUrl })
  await RUN.db.connect()
  RUN.dbPid = (await RUN.db.query('SELECT pg_backend_pid() AS pid')).rows[0].pid
  RUN.mon = new pg.Client({ connectionString: dbUrl })
  await RUN.mon.connect()
  setMonitor(RUN.mon)
  const health = await expectStatus(`${RUN.base}/__cfp/health`, {}, 200)
  if (JSON.parse(health.text).workers < 1) throw new BenchError(`runtime health shows no worker: ${health.text}`)

  let gitCommit = null
  let gitDirty = null
  try {
    gitCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).toString().trim()
    gitDirty = execFileSync('git', ['status', '--porcelain', '--', 'crates', 'packages'], { cwd: ROOT }).toString().trim() !== ''
  } catch {}

  const results = {
    startedAt: new Date(startedWall).toISOString(),
    command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    benchmarks: selected,
    runtimeBin: {
      path: RUNTIME_BIN.startsWith(ROOT) ? relative(ROOT, RUNTIME_BIN) : RUNTIME_BIN,
      modified: statSync(RUNTIME_BIN).mtime.toISOString(),
      sha256: createHash('sha256').update(readFileSync(RUNTIME_BIN)).digest('hex'),
    },
    config: { ...CFG, pgUrl: CFG.pgUrl.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@') },
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memGb: round(totalmem() / 2 ** 30, 1),
      loadavgAtStart: loadavg().map((v) => round(v, 2)),
      backgroundCoresAtStart: background,
      node: process.version,
      postgres: pgInfo.rows[0],
    },
    git: { commit: gitCommit, crateOrPackageChanges: gitDirty },
    database: dbName,
    logs: relative(ROOT, logDir),
  }
  for (const b of selected) {
    let quiet = null
    if (CFG.quietWaitS > 0 && b !== selected[0]) {
      quiet = await waitQuiet(CFG.quietWaitS * 1000)
      if (quiet >= 0.25) say(`note: the machine is busy (${quiet} cores used by other processes)`)
    }
    const t = performance.now()
    say(`=== ${b} ===`)
    if (b === 'api') results.api = await benchApi()
    if (b === 'chain') results.chain = await benchChain()
    if (b === 'seq40') results.seq40 = await benchSeq40(RUN, CFG, { queue: Q, tenant: TENANT, project: PROJECT })
    results[b].wallSeconds = round((performance.now() - t) / 1000, 1)
    if (quiet !== null) results[b].busyCoresBefore = quiet
    if (!RUN.runtime.h.running()) throw new BenchError(`the runtime exited during ${b}\n${RUN.runtime.h.tail()}`)
    if (!RUN.worker.running()) throw new BenchError(`the worker exited during ${b}\n${RUN.worker.tail()}`)
  }
  results.loadavgAtEnd = loadavg().map((v) => round(v, 2))
  results.backgroundLoad = backgroundLoad(results, BENCHES)
  results.targets = {}
  if (results.api) results.targets.apiRatio = { target: `>= ${TARGETS.apiRatio}`, value: results.api.ratio, pass: results.api.ratio >= TARGETS.apiRatio }
  if (results.api?.otlp) {
    const o = results.api.otlp
    results.targets.apiOtlpVsBare = { target: `>= ${TARGETS.apiOtlpVsBare}`, value: o.vsBare, pass: o.vsBare >= TARGETS.apiOtlpVsBare }
    results.targets.apiOtlpVsOff = { target: `>= ${TARGETS.apiOtlpVsOff}`, value: o.vsOff, pass: o.vsOff >= TARGETS.apiOtlpVsOff }
  }
  if (results.api)
    results.targets.apiHalfRateP99Ms = {
      target: `< ${TARGETS.apiHalfRateP99Ms}`,
      value: results.api.cfpHalfP99Ms,
      pass: results.api.cfpHalfP99Ms < TARGETS.apiHalfRateP99Ms,
    }
  if (results.chain)
    results.targets.chainExecPerSec = {
      target: `>= ${TARGETS.chainExecPerSec}`,
      value: results.chain.max.execPerSec,
      pass: results.chain.max.execPerSec >= TARGETS.chainExecPerSec,
    }
  if (results.seq40)
    results.targets.seq40MedianMs = {
      target: `< ${TARGETS.seq40MedianMs}`,
      value: results.seq40.medianMs,
      pass: results.seq40.medianMs < TARGETS.seq40MedianMs,
    }

  await cleanup()
  const table = report(results, TARGETS)
  results.table = table.split('\n')
  const file = join(RESULTS_DIR, `${ts}.json`)
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`\n${table}\n`)
  console.log(`results: ${relative(ROOT, file)}   logs: ${relative(ROOT, logDir)}/`)
  const noisy = Object.entries(results.backgroundLoad).filter(([, v]) => v !== null && v > 0.25)
  if (noisy.length) {
    console.log(
      `warning: other processes used up to ${noisy.map(([b, v]) => `${v} cores during ${b}`).join(', ')} of this ${cpus().length}-CPU machine; ` +
        'latencies and throughput are disturbed (see "other" in the CPU rows). Re-run on a quiet machine for reference figures.',
    )
  }
  const missed = Object.entries(results.targets).filter(([, t]) => !t.pass)
  if (missed.length) console.log(`targets missed: ${missed.map(([k]) => k).join(', ')}`)
}

main()
  .then(() => process.exit(0))
  .catch(async (err) => {
    if (interrupted) return // the signal handler cleans up and exits
    console.error(`\nbench failed: ${err instanceof BenchError ? err.message : (err?.stack ?? err)}`)
    if (RUN?.logDir) console.error(`logs: ${relative(ROOT, RUN.logDir)}/`)
    await cleanup().catch(() => {})
    process.exit(1)
  })
