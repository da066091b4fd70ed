#!/usr/bin/env node
/**
 * API fuzzing of the control plane: schemathesis against its own `/openapi.json`, on loopback, with real
 * ids, failing on any 5xx or undocumented response. Steps: install schemathesis (pinned, cached), start
 * `cfp-control-plane` on a fresh schema, complete setup and seed objects through the API, run schemathesis
 * (examples, coverage and fuzzing phases), print one line per operation and a `Tests  N passed | M failed`
 * total, then stop every child and drop the schema — on success, failure, error, Ctrl-C and the deadline alike.
 *
 * @example
 *   npm test -w tests/api-fuzz                      # or: node tests/api-fuzz/run.mjs
 *   API_FUZZ_MAX_EXAMPLES=200 API_FUZZ_SEED=42 npm test -w tests/api-fuzz
 *
 * Environment: CFP_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), API_FUZZ_MAX_EXAMPLES
 * (per operation in the fuzzing phase, default 100), API_FUZZ_SEED (default random, printed), API_FUZZ_CHECKS
 * (schemathesis check list), API_FUZZ_HAR=1 (also write reports/requests.har, unsanitized), API_FUZZ_DEADLINE
 * seconds for the whole run (default 420), PYTHON.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { buildConfig } from './lib/config.mjs'
import { isShuttingDown, onShutdown, shutdown, startControlPlane, track } from './lib/processes.mjs'
import { printSummary, readJunit } from './lib/report.mjs'
import { api, seed, startIssuer } from './lib/seed.mjs'
import { ensureSchemathesis, root } from './lib/venv.mjs'

const databaseUrl = process.env.CFP_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const maxExamples = Number(process.env.API_FUZZ_MAX_EXAMPLES ?? 100)
/** No 5xx, and every response as documented: status, content type, body schema, headers. */
const CHECKS = 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance'
const runSeed = Number(process.env.API_FUZZ_SEED ?? randomInt(1, 2 ** 31))
const deadlineS = Number(process.env.API_FUZZ_DEADLINE ?? 420)

async function dropSchemaLater(schema) {
  onShutdown(async () => {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 })
    await client.connect()
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    } finally {
      await client.end()
    }
  })
}

async function main() {
  const started = Date.now()
  const st = ensureSchemathesis()
  const reports = path.join(root, 'reports')
  rmSync(reports, { recursive: true, force: true })
  mkdirSync(reports, { recursive: true })

  const schema = `cfp_fuzz_${randomBytes(5).toString('hex')}`
  await dropSchemaLater(schema)
  const issuer = await startIssuer()
  onShutdown(issuer.close)
  const cp = await startControlPlane({ databaseUrl, schema })
  console.log(`api-fuzz: control plane at ${cp.url} (schema ${schema}), seed ${runSeed}, max ${maxExamples} examples per operation`)
  const seeded = await seed(cp.url, cp.setupToken, issuer.url)

  writeFileSync(path.join(reports, 'openapi.json'), (await api(cp.url, 'GET', '/openapi.json')).text)
  const configFile = path.join(reports, 'schemathesis.toml')
  writeFileSync(configFile, buildConfig({ url: cp.url, serviceToken: cp.serviceToken, ...seeded, maxExamples, seed: runSeed }), { mode: 0o600 })
  const junit = path.join(reports, 'junit.xml')
  const args = [
    '--config-file',
    configFile,
    'run',
    `${cp.url}/openapi.json`,
    '--checks',
    process.env.API_FUZZ_CHECKS ?? CHECKS,
    '--report',
    process.env.API_FUZZ_HAR ? 'junit,har' : 'junit',
    '--report-junit-path',
    junit,
    '--report-har-path',
    path.join(reports, 'requests.har'),
    '--no-color',
    '--output-truncate',
    'true',
    ...(process.env.API_FUZZ_HAR ? ['--output-sanitize', 'false'] : []),
    '--warnings',
    'off',
  ]
  // Plain output in logs: rich (schemathesis' console) treats any FORCE_COLOR, even 0, as a terminal.
  const { FORCE_COLOR: _ignored, ...env } = process.env
  const child = track(st, args, { cwd: reports, env: { ...env, NO_COLOR: '1', TERM: 'dumb' } })
  child.stdout.pipe(process.stdout)
  child.stderr.pipe(process.stderr)
  const { code, signal } = await child.exited
  if (isShuttingDown()) return 1 // stopped by a signal or the deadline: no verdict

  const ops = readJunit(junit)
  const crashed = cp.child.exitCode !== null || cp.child.signalCode !== null
  const failedOps = printSummary(ops, { seed: runSeed, seconds: (Date.now() - started) / 1000, serverErrors: cp.logLines })
  if (crashed) console.error('api-fuzz: the control plane exited during the run')
  if (code !== 0 && failedOps === 0) console.error(`api-fuzz: schemathesis exited with ${code ?? signal} (errors above)`)
  return code === 0 && failedOps === 0 && !crashed && ops.length > 0 ? 0 : 1
}

let exitCode = 1
const deadline = setTimeout(() => {
  console.error(`api-fuzz: deadline of ${deadlineS} s reached, stopping`)
  void shutdown().then(() => process.exit(1))
}, deadlineS * 1000)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    console.error(`api-fuzz: ${sig}, stopping`)
    void shutdown().then(() => process.exit(130))
  })
}
try {
  exitCode = await main()
} catch (err) {
  console.error(`api-fuzz: ${err.stack ?? err}`)
} finally {
  clearTimeout(deadline)
  await shutdown()
}
process.exit(exitCode)
