// Shared plumbing of bench/run.mjs: small helpers, child processes (always killed at exit), and CPU accounting
// from /proc (per child role, PostgreSQL backends working for us, and everything else on the machine).

import { execFileSync, spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { createWriteStream, readFileSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import net from 'node:net'

const ROOT = resolve(import.meta.dirname, '..', '..')

// ---------------------------------------------------------------------------------------------- helpers

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
export const round = (v, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** d) / 10 ** d)
export const median = (xs) => {
  if (!xs.length) return null
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
export const stamp = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
export const startedWall = Date.now()
export const say = (msg) => console.error(`[${((Date.now() - startedWall) / 1000).toFixed(1).padStart(6)}s] ${msg}`)

/** A benchmark that cannot go on: its message says why (with the relevant log tail). */
export class BenchError extends Error {}

export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer()
    s.unref()
    s.on('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })
}

/** Resolves with `value` or rejects after `ms` with `message`. */
export function withTimeout(promise, ms, message) {
  let t
  return Promise.race([promise, new Promise((_, rej) => (t = setTimeout(() => rej(new BenchError(message)), ms)))]).finally(() =>
    clearTimeout(t),
  )
}

// ---------------------------------------------------------------------------------------------- children

export const children = new Set()

/**
 * Spawns a child whose stdout and stderr go to `<logDir>/<name>.log`; `onLine(line, stream)` sees each line.
 * Returns { child, name, exited: Promise<{code, signal}>, tail(): last log lines }.
 */
export function startChild(name, cmd, args, { env, cwd, logDir, onLine } = {}) {
  const child = spawn(cmd, args, { cwd: cwd ?? ROOT, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  const log = logDir ? createWriteStream(join(logDir, `${name}.log`), { flags: 'a' }) : undefined
  const lines = []
  const exited = new Promise((res) => {
    child.on('exit', (code, signal) => {
      children.delete(handle)
      res({ code, signal })
    })
    child.on('error', (err) => {
      children.delete(handle)
      lines.push(`spawn error: ${err.message}`)
      res({ code: -1, signal: null, error: err })
    })
  })
  for (const [stream, src] of [
    ['stdout', child.stdout],
    ['stderr', child.stderr],
  ]) {
    createInterface({ input: src, crlfDelay: Infinity }).on('line', (line) => {
      log?.write(`${stream === 'stderr' ? '! ' : ''}${line}\n`)
      lines.push(line)
      if (lines.length > 200) lines.shift()
      onLine?.(line, stream)
    })
  }
  const handle = {
    name,
    child,
    exited,
    closeLog: () => new Promise((r) => (log ? log.end(r) : r())),
    tail: (n = 30) => lines.slice(-n).join('\n'),
    running: () => child.exitCode === null && child.signalCode === null,
  }
  children.add(handle)
  return handle
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone (or after 5 s more). */
export async function stopChild(h, graceMs = 5000) {
  if (!h || !h.running()) return
  try {
    h.child.kill('SIGTERM')
  } catch {}
  const done = await Promise.race([h.exited.then(() => true), sleep(graceMs).then(() => false)])
  if (!done) {
    say(`${h.name} did not stop within ${graceMs} ms; killing it`)
    try {
      h.child.kill('SIGKILL')
    } catch {}
    await Promise.race([h.exited, sleep(5000)])
  }
  await h.closeLog()
}

// Last resort: whatever still runs when this process exits is killed (by pid, only our own children).
process.on('exit', () => {
  for (const h of children) {
    try {
      process.kill(h.child.pid, 'SIGKILL')
    } catch {}
  }
})

// ---------------------------------------------------------------------------------------------- CPU accounting

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
  } catch {
    return 100
  }
})()

export function procTicks(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12]) // utime + stime
  } catch {
    return null
  }
}

/**
 * CPU ticks of the PostgreSQL processes working for this benchmark: the backends connected to the benchmark
 * database (the runtime's pool, our monitoring connections, autovacuum) and the server's shared background
 * processes (WAL writer, checkpointer, ...). Backends of other databases on the same server are left out (they
 * count as `other`).
 */
let monitor = null

/** The connection to the benchmark database used to find the PostgreSQL processes working for us. */
export function setMonitor(client) {
  monitor = client
}

export async function postgresTicks() {
  const r = await monitor.query(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR (datname IS NULL AND backend_type <> 'client backend')`,
  )
  const out = new Map()
  for (const { pid } of r.rows) {
    const t = procTicks(pid)
    if (t !== null) out.set(pid, t)
  }
  return out
}

export function machineBusyTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, , , irq, softirq, steal] = f
  return user + nice + system + irq + softirq + (steal ?? 0)
}

/** A snapshot of CPU time: the machine, our children (by role) and the PostgreSQL processes working for us. */
export async function cpuSnap(roles) {
  const postgres = await postgresTicks()
  const procs = {}
  for (const [role, h] of Object.entries(roles)) if (h?.running()) procs[role] = procTicks(h.child.pid)
  return { t: performance.now(), busy: machineBusyTicks(), postgres, procs }
}

/**
 * CPU used between two snapshots, in cores (1.0 = one core busy for the whole interval). `extraSeconds` adds
 * CPU seconds reported by short-lived children (the load generator). `other` is everything else on the
 * machine: background load not caused by the benchmark.
 */
export function cpuUse(a, b, extraSeconds = {}) {
  const wall = (b.t - a.t) / 1000
  const out = {}
  let ours = 0
  for (const role of Object.keys(b.procs)) {
    if (a.procs[role] == null || b.procs[role] == null) continue
    const secs = (b.procs[role] - a.procs[role]) / CLK_TCK
    out[role] = round(secs / wall, 2)
    ours += secs
  }
  let pgTicks = 0
  for (const [pid, t] of b.postgres) pgTicks += t - (a.postgres.get(pid) ?? 0) // a backend new since `a` counts from 0
  const pgSecs = Math.max(0, pgTicks / CLK_TCK)
  out.postgres = round(pgSecs / wall, 2)
  ours += pgSecs
  for (const [role, secs] of Object.entries(extraSeconds)) {
    if (secs == null) continue
    out[role] = round(secs / wall, 2)
    ours += secs
  }
  const busy = (b.busy - a.busy) / CLK_TCK
  out.machine = round(busy / wall, 2)
  out.other = round(Math.max(0, busy - ours) / wall, 2)
  out.seconds = round(wall, 2)
  return out
}

/** Waits (up to `maxMs`) until the machine has been nearly idle for 3 s; returns the last 1-s load seen (cores). */
export async function waitQuiet(maxMs) {
  const until = Date.now() + maxMs
  let last = null
  let quietFor = 0
  for (;;) {
    const a = { t: performance.now(), busy: machineBusyTicks() }
    await sleep(1000)
    last = (machineBusyTicks() - a.busy) / CLK_TCK / ((performance.now() - a.t) / 1000)
    quietFor = last < 0.25 ? quietFor + 1 : 0
    if (quietFor >= 3 || Date.now() >= until) return round(last, 2)
  }
}
