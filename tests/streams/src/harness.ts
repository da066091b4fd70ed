/**
 * Starts the real processes for stream tests: `cfp-runtime` (debug build) in a PostgreSQL schema of its own on
 * a free port, and `cfp-worker` on a fixture project. `stop()` ends both and drops the schema.
 *
 * - `CFP_RUNTIME_BIN` (default `${CARGO_TARGET_DIR:-<repo>/target}/debug/cfp-runtime`, `cargo build -p cfp-runtime`)
 * - `CFP_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`)
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const REPO = resolve(ROOT, '..', '..')
export const WORKER_MAIN = join(REPO, 'packages', 'worker', 'dist', 'main.js')
export const CLI_MAIN = join(REPO, 'packages', 'cli', 'dist', 'main.js')
export const DATABASE_URL = process.env.CFP_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
export const ADMIN = `admin-${randomBytes(8).toString('hex')}`
const WORKER_TOKEN = `worker-${randomBytes(8).toString('hex')}`

export function runtimeBin(): string {
  if (process.env.CFP_RUNTIME_BIN) return resolve(process.env.CFP_RUNTIME_BIN)
  const target = process.env.CARGO_TARGET_DIR ? resolve(REPO, process.env.CARGO_TARGET_DIR) : join(REPO, 'target')
  return join(target, 'debug', 'cfp-runtime')
}

/** Why the suite cannot run, or undefined. */
export function missingPrerequisite(): string | undefined {
  if (!existsSync(runtimeBin())) return `no runtime binary at ${runtimeBin()}: run \`cargo build -p cfp-runtime\``
  if (!existsSync(WORKER_MAIN)) return `${WORKER_MAIN} is missing: run \`npm run build\``
  return undefined
}

/** A copy of a fixture project inside this package (so `zod` resolves from the repository's node_modules). */
export function copyFixture(name: string): { dir: string; cleanup: () => void } {
  const work = join(ROOT, '.work')
  mkdirSync(work, { recursive: true })
  const dir = mkdtempSync(join(work, `${name}-`))
  cpSync(join(ROOT, 'fixtures', name), dir, { recursive: true })
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface Runtime {
  /** `127.0.0.1:<port>` */
  addr: string
  http: string
  ws: string
  output: string[]
  stop(): Promise<void>
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' }
  return { ...env, ...extra }
}

async function exit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const done = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  await done
  clearTimeout(timer)
}

/** Starts `cfp-runtime` in a fresh schema; `dev` makes loopback clients the local developer. */
export async function startRuntime(opts: { dev?: boolean } = {}): Promise<Runtime> {
  const schema = `streams_${randomBytes(6).toString('hex')}`
  const data = mkdtempSync(join(ROOT, '.work-data-'))
  const child = spawn(runtimeBin(), [], {
    env: childEnv({
      DATABASE_URL,
      CFP_DB_SCHEMA: schema,
      CFP_LISTEN: '127.0.0.1:0',
      CFP_WORKER_TOKEN: WORKER_TOKEN,
      CFP_ADMIN_TOKEN: ADMIN,
      CFP_DEV: opts.dev ? 'true' : 'false',
      CFP_DATA_DIR: data,
      CFP_LOG: 'warn',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  child.stderr?.on('data', (b: Buffer) => output.push(b.toString()))
  const addr = await new Promise<string>((resolveAddr, reject) => {
    const timer = setTimeout(() => reject(new Error(`cfp-runtime did not start in 30 s:\n${output.join('')}`)), 30_000)
    child.once('exit', (code) => reject(new Error(`cfp-runtime exited with ${code}:\n${output.join('')}`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const ready = JSON.parse(line) as { ready?: boolean; addr?: string }
        if (ready.ready && ready.addr) {
          clearTimeout(timer)
          resolveAddr(ready.addr)
        }
      } catch {
        output.push(line)
      }
    })
  })
  return {
    addr,
    http: `http://${addr}`,
    ws: `ws://${addr}/`,
    output,
    async stop() {
      await exit(child, 10_000)
      rmSync(data, { recursive: true, force: true })
      const db = new pg.Client({ connectionString: DATABASE_URL })
      await db.connect()
      try {
        await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      } finally {
        await db.end()
      }
    },
  }
}

export interface Worker {
  output: string[]
  stop(): Promise<void>
}

/** Starts `cfp-worker` on a project and waits for its first registration. */
export async function startWorker(rt: Runtime, dir: string): Promise<Worker> {
  const child = spawn(process.execPath, [WORKER_MAIN, '--dir', dir, '--url', `ws://${rt.addr}/__cfp/worker`, '--token', WORKER_TOKEN], {
    env: childEnv({}),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  await new Promise<void>((ready, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not register in 30 s:\n${output.join('')}`)), 30_000)
    child.once('exit', (code) => reject(new Error(`the worker exited with ${code}:\n${output.join('')}`)))
    const onData = (b: Buffer) => {
      output.push(b.toString())
      if (/registered \d+ steps?/.test(output.join(''))) {
        clearTimeout(timer)
        ready()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
  })
  return { output, stop: () => exit(child, 10_000) }
}

/** Calls an API step with the admin token. */
export async function api(rt: Runtime, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${rt.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}
