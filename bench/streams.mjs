#!/usr/bin/env node
// Stream fan-out benchmark: node bench/streams.mjs [options]   (see bench/README.md, section "streams")
//
// N WebSocket clients (default 10,000, Motia's stream protocol) subscribe to one group of one stream on one
// cfp-runtime process; one update is sent ~20 times; reported: delivery latency to every client (p50/p99) and
// the runtime's memory per idle connection (RSS delta / N). With --motia (default on) the same is measured
// against Motia 0.17's own stream server (`createSocketServer` of @motiadev/core) in a Node process.
// Loopback only; every child process, client and the benchmark database are removed at the end.

import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { isMainThread, parentPort, threadId, Worker, workerData } from 'node:worker_threads'

const ROOT = resolve(import.meta.dirname, '..')
const WORKER_MAIN = join(ROOT, 'packages/worker/dist/main.js')
const PROJECT_DIR = join(ROOT, 'bench/streams-project')
const RESULTS_DIR = join(ROOT, 'bench/results')
const MOTIA_SOCKET_SERVER = join(ROOT, 'node_modules/@motiadev/core/dist/src/socket-server.mjs')
const now = () => performance.timeOrigin + performance.now()
let quietWaitS = 60

if (!isMainThread) clientThread()
else if (process.argv.includes('--serve-motia')) serveMotia()
else await main()

// ------------------------------------------------------------------------------------------------- main

async function main() {
  const USAGE = `usage: node bench/streams.mjs [options]
  --clients N        WebSocket subscribers (default 10000)
  --broadcasts N     updates sent, one at a time (default 20)
  --threads N        client threads (default 2)
  --no-motia         skip Motia's stream server
  --runtime-bin P    cfp-runtime binary (default target/release/cfp-runtime, built when missing)
  --pg-url URL       server for the benchmark database (default $BENCH_PG_URL or postgres://postgres@127.0.0.1:5432/test)
  --quiet-wait S     before each server's measurement, wait up to S s (default 60) until other processes use
                     less than half a core for 3 s (0: do not wait)
  --time-limit S     hard limit for the whole run (default 900)`
  const { values: o } = parseArgs({
    options: {
      clients: { type: 'string', default: '10000' },
      broadcasts: { type: 'string', default: '20' },
      threads: { type: 'string', default: '2' },
      'no-motia': { type: 'boolean', default: false },
      'runtime-bin': { type: 'string' },
      'pg-url': { type: 'string' },
      'time-limit': { type: 'string', default: '900' },
      'quiet-wait': { type: 'string', default: '60' },
      'fd-raised': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (o.help) return console.log(USAGE)
  const clients = Number(o.clients)
  const broadcasts = Number(o.broadcasts)
  const threads = Math.max(1, Math.min(Number(o.threads), clients))
  quietWaitS = Number(o['quiet-wait'])
  const pgUrl = o['pg-url'] ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

  // Every client is a file descriptor here and one in the server: raise the soft limit (re-exec under bash).
  const need = clients + 1024
  const soft = Number(execFileSync('bash', ['-c', 'ulimit -Sn']).toString().trim())
  if (soft < need && !o['fd-raised']) {
    const hard = execFileSync('bash', ['-c', 'ulimit -Hn']).toString().trim()
    if (hard !== 'unlimited' && Number(hard) < need) {
      console.error(
        `bench/streams: ${clients} clients need ${need} open files; the hard limit is ${hard}. Raise it (ulimit -Hn) or pass --clients ${Number(hard) - 1024}.`,
      )
      process.exit(2)
    }
    const args = [...process.argv.slice(1), '--fd-raised'].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
    const r = spawnSync('bash', ['-c', `ulimit -Sn ${need} && exec '${process.execPath}' ${args}`], { stdio: 'inherit' })
    process.exit(r.status ?? 1)
  }

  const cleanups = []
  const cleanup = async () => {
    while (cleanups.length)
      await cleanups
        .pop()()
        .catch((e) => console.error(`cleanup: ${e.message}`))
  }
  const limit = setTimeout(async () => {
    console.error(`bench/streams: time limit of ${o['time-limit']} s reached; stopping`)
    await cleanup()
    process.exit(3)
  }, Number(o['time-limit']) * 1000)
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, async () => (await cleanup(), process.exit(130)))

  const results = { date: new Date().toISOString(), clients, broadcasts, threads, loadavgAtStart: loadavg(), cfp: undefined, motia: undefined }
  try {
    results.cfp = await benchCfp({ clients, broadcasts, threads, pgUrl, bin: o['runtime-bin'], cleanups })
    await cleanup()
    if (!o['no-motia']) {
      if (existsSync(MOTIA_SOCKET_SERVER)) results.motia = await benchMotia({ clients, broadcasts, threads, cleanups })
      else console.error(`bench/streams: Motia skipped: ${MOTIA_SOCKET_SERVER} is missing (npm install, workspace tests/streams)`)
      await cleanup()
    }
  } catch (err) {
    console.error(`bench/streams: ${err.stack ?? err}`)
    await cleanup()
    process.exit(1)
  } finally {
    clearTimeout(limit)
  }
  report(results)
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `streams-${results.date.replaceAll(':', '-')}.json`)
  writeFileSync(file, JSON.stringify(results, null, 2))
  console.log(`\nwritten ${file}`)
  process.exit(0)
}

// --------------------------------------------------------------------------------------------- servers

async function benchCfp({ clients, broadcasts, threads, pgUrl, bin, cleanups }) {
  const runtimeBin = bin ? resolve(bin) : join(ROOT, 'target/release/cfp-runtime')
  if (!existsSync(runtimeBin)) {
    console.error('building target/release/cfp-runtime …')
    execFileSync('cargo', ['build', '--release', '-p', 'cfp-runtime'], { cwd: ROOT, stdio: 'inherit' })
  }
  if (!existsSync(WORKER_MAIN)) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' })

  const { default: pg } = await import('pg')
  const db = `cfp_bench_streams_${Date.now()}_${randomBytes(3).toString('hex')}`
  const admin = new pg.Client({ connectionString: pgUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE "${db}"`)
  await admin.end()
  cleanups.push(async () => {
    const c = new pg.Client({ connectionString: pgUrl })
    await c.connect()
    await c.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`)
    await c.end()
  })
  const url = new URL(pgUrl)
  url.pathname = `/${db}`
  const data = mkdtempSync(join(tmpdir(), 'cfp-bench-streams-'))
  cleanups.push(async () => rmSync(data, { recursive: true, force: true }))
  const token = randomBytes(12).toString('hex')
  const runtime = await startChild(
    runtimeBin,
    [],
    {
      DATABASE_URL: url.toString(),
      CFP_LISTEN: '127.0.0.1:0',
      CFP_WORKER_TOKEN: token,
      CFP_ADMIN_TOKEN: randomBytes(12).toString('hex'),
      CFP_DEV: 'true',
      CFP_DATA_DIR: data,
      CFP_LOG: 'warn',
    },
    cleanups,
  )
  const worker = spawn(process.execPath, [WORKER_MAIN, '--dir', PROJECT_DIR, '--url', `ws://${runtime.addr}/__cfp/worker`, '--token', token], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  cleanups.push(() => stop(worker))
  await waitForOutput(worker, /registered 1 steps? \(0 errors\)/, 60_000, 'the worker did not register')

  const update = async (n) => {
    const res = await post(runtime.addr, '/bench/update', { n, t0: now() })
    if (res !== 200) throw new Error(`POST /bench/update answered ${res}`)
  }
  await update(0) // creates the item, warms the path
  return measure('cfp-runtime', runtime, { clients, broadcasts, threads, update, cleanups })
}

async function benchMotia({ clients, broadcasts, threads, cleanups }) {
  const server = await startChild(process.execPath, [join(ROOT, 'bench/streams.mjs'), '--serve-motia'], {}, cleanups)
  const update = async (n) => {
    const res = await post(server.addr, '/update', { n, t0: now() })
    if (res !== 200) throw new Error(`Motia /update answered ${res}`)
  }
  return measure('motia 0.17 socket server', server, { clients, broadcasts, threads, update, cleanups })
}

/** Motia's own stream server (`createSocketServer` from @motiadev/core 0.17), with the in-memory stream its
 * `set` wraps: POST /update pushes an `update` of item `item` in group `all` as Motia's stream wrapper does. */
async function serveMotia() {
  const { createSocketServer } = await import(pathToFileURL(MOTIA_SOCKET_SERVER).href)
  let item = null
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const data = { ...JSON.parse(body || '{}'), id: 'item' }
      const type = item ? 'update' : 'create'
      item = data
      pushEvent({ streamName: 'bench', groupId: 'all', id: 'item', event: { type, data } })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
    })
  })
  const { pushEvent } = createSocketServer({
    server,
    onJoin: async () => item,
    onJoinGroup: async () => (item ? [item] : []),
  })
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ ready: true, addr: `127.0.0.1:${server.address().port}` })))
}

// -------------------------------------------------------------------------------------------- measuring

/** Waits (bounded) until the machine's other processes use less than half a core for 3 s in a row. */
async function quiet(excludePids) {
  if (!quietWaitS) return
  const sample = () => {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number)
    const idle = cpu[3] + cpu[4]
    const own = excludePids.reduce((a, pid) => a + cpuMs(pid), cpuMs(process.pid))
    return { busyMs: ((cpu.reduce((a, b) => a + b, 0) - idle) * 1000) / 100 - own, at: Date.now() }
  }
  const until = Date.now() + quietWaitS * 1000
  let calm = 0
  let prev = sample()
  while (Date.now() < until && calm < 3) {
    await sleep(1000)
    const cur = sample()
    calm = (cur.busyMs - prev.busyMs) / (cur.at - prev.at) < 0.5 ? calm + 1 : 0
    prev = cur
  }
  if (calm < 3)
    console.error(
      `(the machine stayed busy for ${quietWaitS} s; measuring anyway: load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')})`,
    )
}

async function measure(name, server, { clients, broadcasts, threads, update }) {
  console.error(`\n${name}: opening ${clients} subscribers in ${threads} thread(s) …`)
  await sleep(1000)
  const rssBefore = rss(server.pid)
  const per = Array.from({ length: threads }, (_, i) => Math.floor(clients / threads) + (i < clients % threads ? 1 : 0))
  const pool = per.map((count) => new Worker(new URL(import.meta.url), { workerData: { addr: server.addr, count } }))
  const calls = new Map()
  for (const w of pool) {
    w.on('message', (m) => calls.get(m.reqId)?.(m))
    w.on('error', (e) => console.error(`client thread: ${e.stack ?? e}`))
  }
  let reqIds = 0
  const ask = (w, msg, ms) =>
    new Promise((ok, fail) => {
      const reqId = ++reqIds
      const t = setTimeout(() => (calls.delete(reqId), fail(new Error(`client thread did not answer ${msg.cmd} in ${ms} ms`))), ms)
      calls.set(reqId, (m) => (clearTimeout(t), calls.delete(reqId), ok(m)))
      w.postMessage({ ...msg, reqId })
    })
  try {
    const t0 = now()
    const opened = await Promise.all(pool.map((w) => ask(w, { cmd: 'open' }, 300_000)))
    const failed = opened.reduce((a, m) => a + m.failed, 0)
    console.error(`${name}: ${clients - failed} subscribed in ${((now() - t0) / 1000).toFixed(1)} s${failed ? ` (${failed} failed)` : ''}`)
    await sleep(3000)
    const rssIdle = rss(server.pid)
    await quiet([server.pid])
    const loadAtMeasure = loadavg()
    const lat = []
    const spread = []
    let lost = 0
    const cpuBefore = cpuMs(server.pid)
    const clientCpuBefore = process.cpuUsage()
    for (let n = 1; n <= broadcasts; n++) {
      const waits = pool.map((w) => ask(w, { cmd: 'await', n }, 30_000))
      await update(n)
      const got = await Promise.all(waits)
      const all = got.flatMap((m) => m.lat)
      lost += got.reduce((a, m) => a + m.missing, 0)
      lat.push(...all)
      spread.push(Math.max(...all))
      await sleep(200)
    }
    const cpuPerBroadcast = (cpuMs(server.pid) - cpuBefore) / broadcasts
    const clientCpu = process.cpuUsage(clientCpuBefore)
    const clientCpuPerBroadcast = (clientCpu.user + clientCpu.system) / 1000 / broadcasts
    const fromStamp = (await Promise.all(pool.map((w) => ask(w, { cmd: 'stamps' }, 30_000)))).flatMap((m) => m.fromStamp)
    const r = {
      name,
      subscribed: clients - failed,
      lost,
      latencyMs: pct(lat),
      allReachedMs: pct(spread),
      afterServerStampMs: pct(fromStamp),
      rssBeforeMiB: rssBefore / 1048576,
      rssIdleMiB: rssIdle / 1048576,
      kibPerConnection: (rssIdle - rssBefore) / 1024 / Math.max(1, clients - failed),
      serverCpuMsPerBroadcast: cpuPerBroadcast,
      clientsCpuMsPerBroadcast: clientCpuPerBroadcast,
      loadavgAtMeasure: loadAtMeasure,
    }
    console.error(`${name}: p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms, ${r.kibPerConnection.toFixed(1)} KiB/connection`)
    return r
  } finally {
    await Promise.all(pool.map((w) => ask(w, { cmd: 'close' }, 60_000).catch(() => undefined)))
    await Promise.all(pool.map((w) => w.terminate()))
  }
}

/** A client thread: `open` connects `count` subscribers to group `all` of stream `bench` and waits for their
 * sync; `await n` resolves when every subscriber got update n (or after 10 s) with the latencies. */
function clientThread() {
  const { addr, count } = workerData
  // ws lives in the repository's node_modules
  const WebSocket = createRequire(join(ROOT, 'package.json'))('ws')
  const sockets = []
  const latencies = new Map()
  const fromStamp = []
  const waiters = new Map()
  let synced = 0
  const onMessage = (raw) => {
    const at = now()
    const m = JSON.parse(raw)
    if (m.event?.type === 'sync') return void synced++
    if (m.event?.type !== 'update' && m.event?.type !== 'create') return
    const n = m.event.data.n
    let list = latencies.get(n)
    if (!list) latencies.set(n, (list = []))
    list.push(at - m.event.data.t0)
    fromStamp.push(Date.now() - m.timestamp)
    if (list.length === sockets.length) waiters.get(n)?.()
  }
  const open = (i) =>
    new Promise((ok) => {
      const ws = new WebSocket(`ws://${addr}/`, { perMessageDeflate: false, skipUTF8Validation: true })
      ws.on('open', () => {
        ws.send(JSON.stringify({ type: 'join', data: { streamName: 'bench', groupId: 'all', subscriptionId: `t${threadId}-s${i}` } }))
        sockets.push(ws)
        ok(true)
      })
      ws.on('message', onMessage)
      ws.on('error', () => ok(false))
    })
  parentPort.on('message', async (msg) => {
    const reply = (m) => parentPort.postMessage({ ...m, reqId: msg.reqId })
    if (msg.cmd === 'open') {
      let failed = 0
      for (let i = 0; i < count; i += 200) {
        const batch = await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, k) => open(i + k)))
        failed += batch.filter((x) => !x).length
      }
      const until = now() + 60_000
      while (synced < sockets.length && now() < until) await sleep(20)
      reply({ failed: failed + (sockets.length - synced) })
    } else if (msg.cmd === 'await') {
      const done = () => {
        const lat = latencies.get(msg.n) ?? []
        waiters.delete(msg.n)
        reply({ lat, missing: sockets.length - lat.length })
      }
      if ((latencies.get(msg.n)?.length ?? 0) === sockets.length) return done()
      const t = setTimeout(done, 10_000)
      waiters.set(msg.n, () => (clearTimeout(t), done()))
    } else if (msg.cmd === 'stamps') {
      reply({ fromStamp })
    } else if (msg.cmd === 'close') {
      for (const ws of sockets) ws.terminate()
      reply({})
    }
  })
}

// ---------------------------------------------------------------------------------------------- helpers

async function startChild(cmd, args, env, cleanups) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  cleanups.push(() => stop(child))
  let err = ''
  child.stderr.on('data', (b) => (err = (err + b).slice(-4000)))
  const addr = await new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`${cmd} did not start in 120 s: ${err}`)), 120_000)
    child.once('exit', (code) => fail(new Error(`${cmd} exited with ${code}: ${err}`)))
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const r = JSON.parse(line)
        if (r.ready) clearTimeout(t), ok(r.addr)
      } catch {}
    })
  })
  return { addr, pid: child.pid, child }
}

function waitForOutput(child, re, ms, what) {
  let out = ''
  return new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`${what} within ${ms / 1000} s: ${out.slice(-2000)}`)), ms)
    const on = (b) => {
      out += b
      if (re.test(out)) clearTimeout(t), ok()
    }
    child.stdout.on('data', on)
    child.stderr.on('data', on)
  })
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(t)
}

function post(addr, path, body) {
  const [host, port] = addr.split(':')
  const data = JSON.stringify(body)
  return new Promise((ok, fail) => {
    const req = http.request({ host, port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      res.resume()
      res.on('end', () => ok(res.statusCode))
    })
    req.on('error', fail)
    req.end(data)
  })
}

function rss(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)
  return m ? Number(m[1]) * 1024 : NaN
}

/** CPU time (user + system) a process used so far, in ms. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
}

function pct(values) {
  const v = [...values].sort((a, b) => a - b)
  const at = (p) => (v.length ? v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] : NaN)
  return { n: v.length, p50: at(50), p90: at(90), p99: at(99), max: v.at(-1) ?? NaN }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms))
}

function report({ clients, broadcasts, loadavgAtStart, cfp, motia }) {
  const rows = [cfp, motia].filter(Boolean)
  const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-')
  const load = loadavgAtStart.map((x) => x.toFixed(2)).join(' ')
  console.log(`\nstreams: ${clients} subscribers of one group, ${broadcasts} updates (loopback; load average at start ${load})\n`)
  console.log(
    'server                     subscribed  lost  p50 ms  p99 ms  max ms  all-reached p99  after-stamp p99  KiB/conn  RSS idle MiB  CPU ms/update  clients CPU ms/update',
  )
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(26)} ${String(r.subscribed).padStart(10)} ${String(r.lost).padStart(5)} ${f(r.latencyMs.p50).padStart(7)} ${f(r.latencyMs.p99).padStart(7)} ${f(r.latencyMs.max).padStart(7)} ${f(r.allReachedMs.p99).padStart(16)} ${f(r.afterServerStampMs.p99).padStart(16)} ${f(r.kibPerConnection).padStart(9)} ${f(r.rssIdleMiB).padStart(13)} ${f(r.serverCpuMsPerBroadcast).padStart(14)} ${f(r.clientsCpuMsPerBroadcast).padStart(22)}`,
    )
  }
  if (cfp) {
    const ok = (b) => (b ? 'met' : 'MISSED')
    console.log(`\ntargets (cfp-runtime): p99 < 200 ms: ${ok(cfp.latencyMs.p99 < 200)}; < 20 KiB per connection: ${ok(cfp.kibPerConnection < 20)}`)
  }
}
