#!/usr/bin/env node
// node bench/chain-py.mjs [events]   (default 5000; see bench/README.md)
// TypeScript vs Python event steps under the same `cfp dev`: `events` chain.a rows are inserted straight into the
// queue (as `run.mjs chain`'s backlog phase does) and drained through ChainA -> ChainB (Node worker), then
// `events` pychain.a rows through PyChainA -> PyChainB (Python worker), twice each, alternating. Prints durable
// step executions/s of both, their ratio, and the RSS of the Python and Node workers idle and at their peak.
// The runtime is CFP_RUNTIME_BIN or what `cfp dev` finds (a release build gives meaningful absolute figures).
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import pg from 'pg'

const ROOT = resolve(import.meta.dirname, '..')
const N = Number(process.argv[2] ?? 5000)
const PG = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const dir = mkdtempSync(join(tmpdir(), 'cfp-py-chain-'))
cpSync(join(ROOT, 'bench/py-chain-project'), dir, { recursive: true })
const dbName = `cfp_bench_py_${Date.now()}`
const admin = new pg.Client({ connectionString: PG })
await admin.connect()
await admin.query(`CREATE DATABASE ${dbName}`)
const url = PG.replace(/\/[^/]*$/, `/${dbName}`)
const port = 40000 + Math.floor(Math.random() * 10000)
const env = { ...process.env, DATABASE_URL: url, NO_COLOR: '1' }
const dev = spawn(process.execPath, [join(ROOT, 'packages/cli/dist/main.js'), 'dev', '--port', String(port), '--dir', dir, '--no-types'], {
  env,
  detached: true,
  stdio: ['ignore', 'pipe', 'pipe'],
})
let out = ''
for (const s of [dev.stdout, dev.stderr]) s.on('data', (d) => (out = (out + d).slice(-20000)))
const until = async (f, ms) => {
  const t = Date.now()
  while (!(await f())) {
    if (Date.now() - t > ms) throw new Error(`timed out\n${out.slice(-3000)}`)
    await sleep(100)
  }
}
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
const findPid = (needle) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .find((p) => {
      try {
        const c = readFileSync(`/proc/${p}/cmdline`, 'utf8')
        return c.includes(needle) && c.includes(dir)
      } catch {
        return false
      }
    })
const db = new pg.Client({ connectionString: url })
try {
  await until(() => /cfp-worker-py: registered/.test(out) && /cfp-worker: registered/.test(out), 180_000)
  await db.connect()
  await sleep(2000)
  const pids = { python: findPid('cfp_worker'), typescript: findPid('worker/dist/main.js') }
  console.log(`idle RSS: Python worker ${rssMiB(pids.python).toFixed(1)} MiB, Node worker ${rssMiB(pids.typescript).toFixed(1)} MiB`)
  const Q = 'cfp_runtime.queue'
  const done = async (steps) => (await db.query(`SELECT count(*)::int AS n FROM ${Q} WHERE status = 2 AND step = ANY($1)`, [steps])).rows[0].n
  async function drain(lang, [a, b], topic) {
    const before = await done([a, b])
    await db.query(
      `INSERT INTO ${Q} (tenant_id, project_id, step, event_id, topic, data, trace_id, max_retries)
       SELECT 'default', 'default', $2, gen_random_uuid(), $3, jsonb_build_object('i', g), 'bench-' || g, 3 FROM generate_series(1, $1::int) g`,
      [N, a, topic],
    )
    const t0 = Date.now()
    await db.query(`SELECT pg_notify('cfp_queue', $1)`, [`default/default/${a}`])
    let peak = 0
    await until(async () => {
      peak = Math.max(peak, rssMiB(pids[lang]))
      return (await db.query(`SELECT count(*)::int AS n FROM ${Q} WHERE status IN (0, 1)`)).rows[0].n === 0
    }, 600_000)
    const n = (await done([a, b])) - before
    const perSec = n / ((Date.now() - t0) / 1000)
    console.log(`${lang}: ${n} durable step executions, ${perSec.toFixed(0)}/s; worker peak RSS ${peak.toFixed(1)} MiB`)
    return perSec
  }
  const ratios = []
  for (let round = 0; round < 2; round++) {
    const ts = await drain('typescript', ['ChainA', 'ChainB'], 'chain.a')
    const py = await drain('python', ['PyChainA', 'PyChainB'], 'pychain.a')
    ratios.push(py / ts)
  }
  console.log(`Python / TypeScript executions/s: ${ratios.map((r) => r.toFixed(2)).join(', ')}`)
} finally {
  await db.end().catch(() => {})
  try {
    process.kill(-dev.pid, 'SIGINT')
  } catch {}
  await sleep(6000)
  try {
    process.kill(-dev.pid, 'SIGKILL')
  } catch {}
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {})
  await admin.end()
  rmSync(dir, { recursive: true, force: true })
}
