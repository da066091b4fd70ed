#!/usr/bin/env node
// What idle unauthenticated connections cost the runtime: starts a cfp-runtime (its own schema), opens N worker
// sockets (WebSocket upgrade, then nothing: no hello) and M raw TCP connections that send nothing, and reports
// the runtime's RSS before, while they are open, and after the runtime closed them (or after --hold-s, when
// this script closes the rest).
// Usage: node bench/idle-sockets.mjs [--bin target/debug/cfp-runtime] [--sockets 2000] [--raw 2000]
//        [--hold-s 25] [--rounds 1] [-- <runtime flags…>]
// More rounds show whether memory freed after one burst is reused by the next (RSS stays bounded).
// Loopback only (source addresses 127.0.0.1–127.0.0.250); bounded: every phase has a deadline, the runtime is
// stopped and the schema dropped on exit.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { resolve } from 'node:path'
import pg from 'pg'
import { freePort, say, startChild, stopChild, withTimeout } from './lib/proc.mjs'

const ROOT = resolve(import.meta.dirname, '..')
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : dflt
}
const dash = process.argv.indexOf('--')
const runtimeFlags = dash > 0 ? process.argv.slice(dash + 1) : []
const BIN = resolve(ROOT, arg('bin', 'target/debug/cfp-runtime'))
const SOCKETS = Number(arg('sockets', 2000))
const RAW = Number(arg('raw', 2000))
const HOLD_MS = Number(arg('hold-s', 25)) * 1000
const ROUNDS = Number(arg('rounds', 1))
const DB = process.env.CFP_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const schema = `bench_idle_${randomBytes(4).toString('hex')}`

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1])
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Opens a connection from 127.0.0.<n>; for a worker socket sends the upgrade and waits for the status line. */
function open(port, i, upgrade) {
  return new Promise((done) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${1 + (i % 250)}` })
    const state = { socket: s, status: 0, closedAt: 0 }
    s.on('error', () => {})
    s.on('close', () => {
      state.closedAt = Date.now()
      done(state)
    })
    if (!upgrade) {
      s.on('connect', () => done(state))
      return
    }
    s.on('connect', () =>
      s.write(
        `GET /__cfp/worker HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nupgrade: websocket\r\nconnection: upgrade\r\n` +
          'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n',
      ),
    )
    s.once('data', (d) => {
      state.status = Number(String(d).split(' ')[1])
      done(state)
    })
  })
}

async function main() {
  const port = await freePort()
  let ready
  const isReady = new Promise((r) => (ready = r))
  const runtime = startChild('runtime', BIN, ['--listen', `127.0.0.1:${port}`, ...runtimeFlags], {
    env: {
      ...process.env,
      DATABASE_URL: DB,
      CFP_DB_SCHEMA: schema,
      CFP_WORKER_TOKEN: randomBytes(16).toString('hex'),
      CFP_DATA_DIR: `/tmp/${schema}`,
      CFP_LOG: 'warn',
    },
    onLine: (line) => line.includes('"ready":true') && ready(),
  })
  await withTimeout(isReady, 60_000, `the runtime did not start: ${runtime.tail()}`)
  const pid = runtime.child.pid
  try {
    await sleep(1000)
    const report = { bin: BIN, flags: runtimeFlags.join(' '), baselineKiB: rssKiB(pid) }
    const phases = []
    for (let round = 1; round <= ROUNDS; round++) phases.push([`worker sockets #${round}`, SOCKETS, true], [`raw TCP #${round}`, RAW, false])
    for (const [what, n, upgrade] of phases) {
      if (n === 0) continue
      const beforeKiB = rssKiB(pid)
      const started = Date.now()
      const conns = []
      for (let i = 0; i < n; i += 100) {
        conns.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) => open(port, i + k, upgrade)))))
      }
      await sleep(500)
      const during = rssKiB(pid)
      const open101 = conns.filter((c) => c.status === 101).length
      const refused = conns.filter((c) => c.status === 503).length
      const deadline = started + HOLD_MS
      while (Date.now() < deadline && conns.some((c) => !c.socket.destroyed && !c.closedAt)) await sleep(200)
      const stillOpen = conns.filter((c) => !c.closedAt).length
      const closedBy = conns
        .filter((c) => c.closedAt)
        .map((c) => c.closedAt - started)
        .sort((a, b) => a - b)
      for (const c of conns) c.socket.destroy()
      await sleep(2000)
      report[what] = {
        opened: n,
        ...(upgrade ? { upgraded101: open101, refused503: refused } : {}),
        beforeKiB,
        duringKiB: during,
        perConnectionBytes: Math.round(((during - beforeKiB) * 1024) / n),
        closedByRuntime: n - stillOpen,
        lastClosedAfterMs: closedBy.length ? closedBy[closedBy.length - 1] : null,
        stillOpenAfterHoldMs: stillOpen,
        afterKiB: rssKiB(pid),
      }
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
  say('idle-sockets: time limit reached')
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
