#!/usr/bin/env node
// What authentication costs an API call. One release cfp-runtime wired to a real control plane (child process,
// its own schema), one worker connected with a control-plane worker token, and the smallest API step
// (bench/project GET /hello) called through /p/<project>/hello with three credentials in turn:
//
//   admin     the runtime's admin token — a constant-time compare: the baseline of the ratio
//   apikey    a project API key — verified once with the control plane, then served from the runtime's cache
//   jwt       a runtime access token (exchanged for the admin's control-plane token at POST /v1/tokens/runtime;
//             a runtime refuses control-plane tokens) — ES256 verified once, then served from the verified-token cache;
//             every call still checks expiry, region, revocations and the permission matrix
//   jwt+limits  the same with maxConcurrentRequests and maxConcurrentExecutions set on the project (high enough
//             never to refuse): the runtime runs with --redis-url, so each call takes and gives back a lease in
//             Redis for both limits (4 Redis round trips) — what counting limits across replicas costs
//
// Reported: max requests/s (closed loop, --connections), p50/p99, and each ratio to `admin` in the same run
// (jwt+limits also to `jwt`).
// Usage: node bench/auth.mjs [--seconds 8] [--connections 64] [--rounds 2]
// Loopback only; bounded (every load run stops after --seconds); every child is stopped on exit.
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { freePort, median, round, say, startChild, stopChild, withTimeout } from './lib/proc.mjs'

const ROOT = resolve(import.meta.dirname, '..')
const RUNTIME_BIN = join(process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target'), 'release', 'cfp-runtime')
const LOADGEN_BIN = join(process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target'), 'release', 'cfp-loadgen')
const CONTROL_MAIN = join(ROOT, 'packages/control-plane/dist/main.js')
const WORKER_MAIN = join(ROOT, 'packages/worker/dist/main.js')
const DB = process.env.CFP_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const opt = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const CFG = { seconds: opt('seconds', 8), connections: opt('connections', 64), rounds: opt('rounds', 2) }
const suffix = randomBytes(4).toString('hex')
const schemas = { control: `bench_auth_cp_${suffix}`, runtime: `bench_auth_rt_${suffix}` }
const logDir = mkdtempSync(join(tmpdir(), 'cfp-bench-auth-'))
const running = []

async function json(method, url, token, body) {
  const res = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text}`)
  return text ? JSON.parse(text) : undefined
}

function waitLine(h, re, what, ms = 120_000) {
  return withTimeout(
    Promise.race([
      new Promise((resolveLine) => h.onMatch.push([re, resolveLine])),
      h.exited.then(() => Promise.reject(new Error(`${h.name} exited before ${what} appeared\n${h.tail()}`))),
    ]),
    ms,
    `${what} did not appear within ${ms / 1000} s\n${h.tail()}`,
  )
}

function start(name, cmd, args, env) {
  const matchers = []
  const h = startChild(name, cmd, args, {
    logDir,
    env: { ...process.env, ...env },
    onLine: (line) => {
      for (const [re, done] of matchers) if (re.test(line)) done(line)
    },
  })
  h.onMatch = matchers
  running.push(h)
  return h
}

async function loadgen(url, header) {
  const out = execFileSync(LOADGEN_BIN, ['max', '--url', url, '--connections', String(CFG.connections), '--seconds', String(CFG.seconds), '--header', header], {
    timeout: (CFG.seconds + 30) * 1000,
  }).toString()
  return JSON.parse(out)
}

async function main() {
  say('cargo build --release -p cfp-runtime -p cfp-loadgen')
  execFileSync('cargo', ['build', '--release', '-p', 'cfp-runtime', '-p', 'cfp-loadgen'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 1_800_000,
  })

  const serviceToken = randomBytes(24).toString('hex')
  const cpPort = await freePort()
  const cp = start('control-plane', process.execPath, [CONTROL_MAIN, '--port', String(cpPort), '--log-level', 'warn'], {
    DATABASE_URL: DB,
    CFP_CONTROL_SCHEMA: schemas.control,
    CFP_CONTROL_MASTER_KEY: randomBytes(32).toString('base64'),
    CFP_CONTROL_SERVICE_TOKEN: serviceToken,
    CFP_CONTROL_REGIONS: 'local',
  })
  const setupLine = await waitLine(cp, /\/v1\/setup\?token=/, 'the control plane setup link')
  const cpUrl = `http://127.0.0.1:${cpPort}`
  const setupToken = new URL(setupLine.trim()).searchParams.get('token')
  const admin = { email: 'bench@example.test', password: randomBytes(12).toString('hex') }
  await json('POST', `${cpUrl}/v1/setup`, undefined, { token: setupToken, ...admin })
  const { access_token: jwt } = await json('POST', `${cpUrl}/v1/auth/login`, undefined, admin)
  const tenant = await json('POST', `${cpUrl}/v1/tenants`, jwt, { slug: 'bench', name: 'Bench', region: 'local' })
  const team = await json('POST', `${cpUrl}/v1/tenants/${tenant.id}/teams`, jwt, { slug: 'perf', name: 'Perf' })
  const project = await json('POST', `${cpUrl}/v1/teams/${team.id}/projects`, jwt, { slug: 'api', name: 'API' })
  const apiKey = (await json('POST', `${cpUrl}/v1/projects/${project.id}/apikeys`, jwt, { name: 'bench', role: 'project_editor' })).token
  const workerToken = (await json('POST', `${cpUrl}/v1/projects/${project.id}/worker-tokens`, jwt, { name: 'bench' })).token

  const adminToken = randomBytes(24).toString('hex')
  const rtPort = await freePort()
  const rt = start('runtime', RUNTIME_BIN, [], {
    DATABASE_URL: DB,
    CFP_DB_SCHEMA: schemas.runtime,
    CFP_LISTEN: `127.0.0.1:${rtPort}`,
    CFP_ADMIN_TOKEN: adminToken,
    CFP_CONTROL_PLANE_URL: cpUrl,
    CFP_SERVICE_TOKEN: serviceToken,
    CFP_REGION: 'local',
    CFP_REDIS_URL: process.env.CFP_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    CFP_DATA_DIR: join(logDir, 'data'),
    CFP_LOG: 'warn',
  })
  await waitLine(rt, /"ready":true/, 'the runtime ready line')
  mkdirSync(join(logDir, 'data'), { recursive: true })
  const worker = start(
    'worker',
    process.execPath,
    [WORKER_MAIN, '--dir', join(ROOT, 'bench/project'), '--url', `ws://127.0.0.1:${rtPort}/__cfp/worker`, '--token', workerToken],
    {
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    },
  )
  await waitLine(worker, /registered \d+ steps/, 'the worker registration')

  const url = `http://127.0.0.1:${rtPort}/p/${project.id}/hello`
  // runtimes take runtime tokens only (audience cfp-runtime, ≤ 5 min: enough for the default rounds)
  const { access_token: runtimeJwt } = await json('POST', `${cpUrl}/v1/tokens/runtime`, jwt, {})
  const modes = { admin: adminToken, apikey: apiKey, jwt: runtimeJwt }
  for (const [name, token] of Object.entries(modes)) {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
    if (res.status !== 200) throw new Error(`${name}: GET ${url} answered ${res.status} ${await res.text()}`)
  }
  const results = Object.fromEntries([...Object.keys(modes), 'jwt+limits'].map((m) => [m, []]))
  const measure = async (r, name, token) => {
    const lg = await loadgen(url, `authorization: Bearer ${token}`)
    const non200 = Object.entries(lg.statuses ?? {}).filter(([code]) => code !== '200')
    if (lg.errors > 0 || non200.length > 0) throw new Error(`${name}: ${lg.errors} errors, statuses ${JSON.stringify(lg.statuses)}`)
    say(`round ${r}/${CFG.rounds} ${name}: ${lg.rps} rps, p50 ${lg.p50Ms} ms, p99 ${lg.p99Ms} ms`)
    results[name].push(lg)
  }
  const setLimits = async (limits) => {
    await json('PUT', `${cpUrl}/v1/projects/${project.id}/limits`, jwt, limits)
    await new Promise((r) => setTimeout(r, 2_500)) // settings reach the runtime within its 1 s poll
  }
  for (let r = 1; r <= CFG.rounds; r++) {
    for (const [name, token] of Object.entries(modes)) await measure(r, name, token)
    // high enough never to refuse 64 connections, and within the control plane's default ceilings (10,000)
    await setLimits({ maxConcurrentRequests: 10_000, maxConcurrentExecutions: 10_000 })
    await measure(r, 'jwt+limits', runtimeJwt)
    await setLimits({})
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([name, runs]) => [
      name,
      { rps: round(median(runs.map((x) => x.rps)), 0), p50Ms: round(median(runs.map((x) => x.p50Ms)), 2), p99Ms: round(median(runs.map((x) => x.p99Ms)), 2) },
    ]),
  )
  const base = summary.admin.rps
  console.log('\ncredential   rps      p50 ms   p99 ms   ratio to admin token')
  for (const [name, s] of Object.entries(summary)) {
    console.log(`${name.padEnd(12)} ${String(s.rps).padEnd(8)} ${String(s.p50Ms).padEnd(8)} ${String(s.p99Ms).padEnd(8)} ${round(s.rps / base, 2)}`)
  }
  console.log(`jwt+limits / jwt: ${round(summary['jwt+limits'].rps / summary.jwt.rps, 2)} (limits counted in Redis)`)
  console.log(JSON.stringify({ bench: 'auth', config: CFG, summary }))
}

async function cleanup() {
  for (const h of running.reverse()) await stopChild(h)
  const c = new pg.Client({ connectionString: DB })
  try {
    await c.connect()
    for (const s of Object.values(schemas)) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`)
  } catch (err) {
    say(`cleanup: ${err.message}`)
  } finally {
    await c.end().catch(() => {})
  }
}

process.on('SIGINT', () => void cleanup().then(() => process.exit(130)))
main()
  .then(cleanup)
  .catch(async (err) => {
    console.error(`bench/auth: ${err.message}\n(logs in ${logDir})`)
    await cleanup()
    process.exit(1)
  })
