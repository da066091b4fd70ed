/**
 * A real control plane for the browser tests: `packages/control-plane/dist/main.js` on loopback, its own
 * PostgreSQL schema (dropped afterwards), a random master key, serving the built workbench. The listen
 * address and the one-time setup link are read from its stdout.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { DIST_DIR, freePort, REPO_ROOT, RESULTS_DIR } from './harness'

export const CONTROL_MAIN = join(REPO_ROOT, 'packages', 'control-plane', 'dist', 'main.js')

export interface ControlPlane {
  url: string
  setupUrl: string
  schema: string
  /** JSON call to the control plane; throws on a non-2xx answer. */
  api<T>(method: string, path: string, body?: unknown, token?: string): Promise<T>
  stop(): Promise<void>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface ControlPlaneOptions {
  /** More flags, e.g. `--runtime-urls local=http://…` and `--service-token …`. */
  extraArgs?: string[]
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  if (!existsSync(join(REPO_ROOT, 'packages', 'control-plane', 'dist', 'routes', 'ui.js'))) {
    throw new Error(`${CONTROL_MAIN} is missing or older than the workbench routes: npm run build -w packages/control-plane`)
  }
  const dbUrl = process.env.CFP_E2E_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const schema = `cfp_wb_e2e_${process.pid}_${randomBytes(4).toString('hex')}`
  // A fixed free port rather than --port 0: the public URL (SSO callbacks, setup link) is derived from the
  // port before listening, so with port 0 it would name port 0.
  const port = await freePort()
  mkdirSync(RESULTS_DIR, { recursive: true })
  const log = createWriteStream(join(RESULTS_DIR, 'control-plane.log'), { flags: 'a' })
  const args = [
    CONTROL_MAIN,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--schema',
    schema,
    '--master-key',
    randomBytes(32).toString('base64'),
    '--workbench-dir',
    DIST_DIR,
    '--allow-loopback-idp',
    '--log-level',
    'warn',
    ...(opts.extraArgs ?? []),
  ]
  log.write(`\n--- ${new Date().toISOString()} node ${args.join(' ').replace(/--(master-key|service-token) \S+/g, '--$1 ***')}\n`)
  const child: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, DATABASE_URL: dbUrl },
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  let out = ''
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
    log.write(d)
  })
  child.stderr?.pipe(log, { end: false })

  const dropSchema = async () => {
    const c = new pg.Client({ connectionString: dbUrl })
    await c.connect()
    try {
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    } finally {
      await c.end()
    }
  }
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)])
      if (!done) {
        child.kill('SIGKILL')
        await exited
      }
    }
    log.end()
    await dropSchema()
  }

  try {
    const deadline = Date.now() + 60_000
    let url: string | undefined
    let setupUrl: string | undefined
    while (Date.now() < deadline && !(url && setupUrl)) {
      if (child.exitCode !== null) throw new Error(`the control plane exited with ${child.exitCode}; see test-results/control-plane.log`)
      url = /cfp-control-plane listening on (http:\/\/\S+)/.exec(out)?.[1]
      setupUrl = /(http:\/\/\S+\/v1\/setup\?token=\S+)/.exec(out)?.[1]
      await sleep(100)
    }
    if (!url || !setupUrl) throw new Error(`the control plane printed no address and setup link within 60 s: ${out}`)
    const base = url
    const api = async <T>(method: string, path: string, body?: unknown, token?: string): Promise<T> => {
      const headers: Record<string, string> = {}
      if (body !== undefined) headers['content-type'] = 'application/json'
      if (token) headers.authorization = `Bearer ${token}`
      const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
      const text = await res.text()
      if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`)
      return (text ? JSON.parse(text) : undefined) as T
    }
    return { url, setupUrl, schema, api, stop }
  } catch (e) {
    await stop()
    throw e
  }
}
