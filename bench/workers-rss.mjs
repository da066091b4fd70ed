#!/usr/bin/env node
// What connected workers cost the runtime: starts a cfp-runtime (its own schema), connects N authenticated worker
// sockets that each register S event steps (the protocol's hello and register, as the Node worker sends them),
// and reports the runtime's RSS before, while they are connected, and after they disconnected.
// Usage: node bench/workers-rss.mjs [--bin target/release/cfp-runtime] [--workers 64] [--steps 10] [-- <runtime flags…>]
// Loopback only; bounded: every phase has a deadline, the runtime is stopped and the schema dropped on exit.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import pg from 'pg'
import { WebSocket } from 'ws'
import { freePort, say, sleep, startChild, stopChild, withTimeout } from './lib/proc.mjs'

const ROOT = resolve(import.meta.dirname, '..')
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : dflt
}
const dash = process.argv.indexOf('--')
const runtimeFlags = dash > 0 ? process.argv.slice(dash + 1) : []
const BIN = resolve(ROOT, arg('bin', 'target/release/cfp-runtime'))
const WORKERS = Number(arg('workers', 64))
const STEPS = Number(arg('steps', 10))
const DB = process.env.CFP_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const schema = `bench_workers_${randomBytes(4).toString('hex')}`
const token = randomBytes(16).toString('hex')

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1])

/** One worker: hello, register S event steps, resolve once `registered` arrives. */
function connectWorker(port, n) {
  return new Promise((done, fail) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/__cfp/worker`)
    ws.on('error', fail)
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: 1, token, worker: { name: `bench-${n}` }, capacity: 16 })))
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data))
      if (frame.type === 'welcome') {
        const steps = Array.from({ length: STEPS }, (_, i) => ({
          name: `Step${i}`,
          type: 'event',
          file: `steps/step${i}.step.ts`,
          subscribes: [`topic.${i}`],
          emits: [`topic.${i + 1}`],
          input: { type: 'object', properties: { n: { type: 'integer' } } },
        }))
        ws.send(JSON.stringify({ type: 'register', steps, streams: [] }))
      } else if (frame.type === 'registered') done(ws)
      else if (frame.type === 'error') fail(new Error(`worker ${n}: ${frame.code}: ${frame.message}`))
    })
  })
}

async function main() {
  const port = await freePort()
  let ready
  const isReady = new Promise((r) => (ready = r))
  const runtime = startChild('runtime', BIN, ['--listen', `127.0.0.1:${port}`, ...runtimeFlags], {
    env: { ...process.env, DATABASE_URL: DB, CFP_DB_SCHEMA: schema, CFP_WORKER_TOKEN: token, CFP_DATA_DIR: `/tmp/${schema}`, CFP_LOG: 'warn' },
    onLine: (line) => line.includes('"ready":true') && ready(),
  })
  await withTimeout(isReady, 60_000, `the runtime did not start: ${runtime.tail()}`)
  const pid = runtime.child.pid
  try {
    await sleep(1000)
    const baselineKiB = rssKiB(pid)
    const sockets = []
    for (let i = 0; i < WORKERS; i++) sockets.push(await withTimeout(connectWorker(port, i), 10_000, `worker ${i} did not register`))
    await sleep(3000)
    const connectedKiB = rssKiB(pid)
    for (const ws of sockets) ws.close()
    await sleep(3000)
    const report = {
      bin: BIN,
      workers: WORKERS,
      stepsEach: STEPS,
      baselineKiB,
      connectedKiB,
      perWorkerKiB: Math.round((connectedKiB - baselineKiB) / WORKERS),
      afterKiB: rssKiB(pid),
    }
    console.log(JSON.stringify(report, null, 2))
  } finally {
    await stopChild(runtime)
    const client = new pg.Client({ connectionString: DB })
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  }
}

const guard = setTimeout(() => {
  say('workers-rss: time limit reached')
  process.exit(2)
}, 180_000)
guard.unref()
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
