/**
 * Stand-ins for the runtime binary and the worker script, for `cfp dev` tests. Both append what happens to
 * them (start with env/args, SIGTERM) to a log file, so tests can check the start and stop order.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const RUNTIME = `#!/usr/bin/env node
const fs = require('node:fs')
const http = require('node:http')
const append = (line) => fs.appendFileSync(process.env.FAKE_LOG, line + '\\n')
const mode = process.env.FAKE_RUNTIME_MODE || 'ok'
const e = process.env
append('runtime:start ' + JSON.stringify({ DATABASE_URL: e.DATABASE_URL, CFP_LISTEN: e.CFP_LISTEN, CFP_DEV: e.CFP_DEV,
  CFP_DATA_DIR: e.CFP_DATA_DIR, CFP_WORKER_TOKEN: e.CFP_WORKER_TOKEN, CFP_ADMIN_TOKEN: e.CFP_ADMIN_TOKEN }))
console.error('INFO runtime starting')
if (mode === 'exit-early') { console.error('ERROR cannot connect to the database'); process.exit(3) }
const i = e.CFP_LISTEN.lastIndexOf(':')
const host = e.CFP_LISTEN.slice(0, i), port = Number(e.CFP_LISTEN.slice(i + 1))
const server = http.createServer((req, res) => {
  append('http ' + req.method + ' ' + req.url + ' ' + req.headers.authorization)
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ eventId: 'ev_1', traceId: 'tr_1' }))
})
server.listen(port, host, () => {
  if (mode !== 'never-ready') console.log(JSON.stringify({ ready: true, addr: host + ':' + server.address().port }))
  console.log('a stdout line that is not the ready line')
  if (e.FAKE_RUNTIME_SAY) console.error(e.FAKE_RUNTIME_SAY)
  if (mode === 'die-after-ready') setTimeout(() => process.exit(7), 300)
})
process.on('SIGTERM', () => { append('runtime:sigterm'); server.close(); process.exit(0) })
`

const WORKER = `#!/usr/bin/env node
const fs = require('node:fs')
const append = (line) => fs.appendFileSync(process.env.FAKE_LOG, line + '\\n')
const counter = process.env.FAKE_LOG + '.workers'
const n = (fs.existsSync(counter) ? Number(fs.readFileSync(counter, 'utf8')) : 0) + 1
fs.writeFileSync(counter, String(n))
append('worker:start ' + JSON.stringify(process.argv.slice(2)))
append('worker:env-token ' + (process.env.CFP_WORKER_TOKEN || ''))
console.log('worker ' + n + ' up')
if (!process.env.FAKE_WORKER_SILENT) console.log('cfp-worker: registered 3 steps (0 errors)')
if (process.env.FAKE_WORKER_SAY) console.error(process.env.FAKE_WORKER_SAY)
if (process.env.FAKE_WORKER_EXIT) process.exit(Number(process.env.FAKE_WORKER_EXIT))
if (n <= Number(process.env.FAKE_WORKER_CRASHES || 0)) setTimeout(() => { console.error('worker crash'); process.exit(2) }, 100)
process.on('SIGTERM', () => { append('worker:sigterm'); setTimeout(() => process.exit(0), 50) })
setInterval(() => {}, 1000)
`

export interface FakeBins {
  runtime: string
  worker: string
  log: string
  lines(): string[]
}

export function writeFakeBins(dir: string): FakeBins {
  mkdirSync(dir, { recursive: true })
  const runtime = join(dir, 'fake-runtime.cjs')
  const worker = join(dir, 'fake-worker.cjs')
  const log = join(dir, 'events.log')
  writeFileSync(runtime, RUNTIME)
  writeFileSync(worker, WORKER)
  writeFileSync(log, '')
  chmodSync(runtime, 0o755)
  return {
    runtime,
    worker,
    log,
    lines: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
  }
}
