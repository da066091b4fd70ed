/**
 * The real runtime behind a control plane, for the browser tests of the workbench served by the control plane:
 * `cfp-runtime` (the debug build) on loopback with its own schema (dropped by `stop`), trusting the control
 * plane's tokens (`--control-plane-url`, `--service-token`), allowing the control plane's workbench
 * (`--workbench-origins`) and dev endpoints; and a real worker (`packages/worker/dist/main.js`) hosting a
 * project with a worker token.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { REPO_ROOT, RESULTS_DIR } from './harness'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function runtimeBinary(): string {
  const target = process.env.CARGO_TARGET_DIR ?? join(REPO_ROOT, 'target')
  const bin = join(target, 'debug', 'cfp-runtime')
  if (!existsSync(bin)) throw new Error(`${bin} is missing: cargo build -p cfp-runtime`)
  return bin
}

export interface Proc {
  child: ChildProcess
  /** Resolves with the first stdout/stderr line matching, or rejects on exit or after the timeout. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string>
  stop(): Promise<void>
}

export function spawnProc(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd = REPO_ROOT): Proc {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const log = createWriteStream(join(RESULTS_DIR, `${name}.log`), { flags: 'a' })
  log.write(`\n--- ${new Date().toISOString()} ${command} ${args.join(' ').replace(/--(token|service-token) \S+/g, '--$1 ***')}\n`)
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  let out = ''
  const take = (d: Buffer) => {
    out += d.toString()
    log.write(d)
  }
  child.stdout?.on('data', take)
  child.stderr?.on('data', take)
  return {
    child,
    async waitForLine(re, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const line = out.split('\n').find((l) => re.test(l))
        if (line) return line
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}); see test-results/${name}.log`)
        await sleep(100)
      }
      throw new Error(`${name} printed no line matching ${re} within ${timeoutMs} ms; see test-results/${name}.log`)
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)])
        if (!done) {
          child.kill('SIGKILL')
          await exited
        }
      }
      log.end()
    },
  }
}

export interface RemoteRuntime {
  url: string
  stop(): Promise<void>
}

/**
 * Starts the runtime on `port` (chosen before the control plane starts, which must name the runtime's URL in
 * `--runtime-urls`; the runtime needs the control plane's URL in turn) and waits for its ready line.
 */
export async function startRemoteRuntime(opts: {
  port: number
  controlPlaneUrl: string
  serviceToken: string
  workbenchOrigin: string
}): Promise<RemoteRuntime> {
  const dbUrl = process.env.CFP_E2E_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const schema = `cfp_wb_rt_${process.pid}_${randomBytes(4).toString('hex')}`
  const dataDir = join(RESULTS_DIR, `rt-data-${schema}`)
  const proc = spawnProc(
    'cfp-runtime-remote',
    runtimeBinary(),
    [
      '--listen',
      `127.0.0.1:${opts.port}`,
      '--database-url',
      dbUrl,
      '--schema',
      schema,
      '--control-plane-url',
      opts.controlPlaneUrl,
      '--service-token',
      opts.serviceToken,
      '--region',
      'local',
      '--dev-endpoints',
      '--workbench-origins',
      opts.workbenchOrigin,
      '--data-dir',
      dataDir,
    ],
    { ...process.env, RUST_LOG: 'warn', NO_COLOR: '1' },
  )
  const stop = async () => {
    await proc.stop()
    rmSync(dataDir, { recursive: true, force: true })
    const c = new pg.Client({ connectionString: dbUrl })
    await c.connect()
    try {
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    } finally {
      await c.end()
    }
  }
  try {
    const ready = await proc.waitForLine(/"ready":true/, 60_000)
    const addr = (JSON.parse(ready.slice(ready.indexOf('{'))) as { addr: string }).addr
    return { url: `http://${addr}`, stop }
  } catch (e) {
    await stop()
    throw e
  }
}

/** A worker hosting `dir` for the project its token is bound to; resolves once its steps are registered. */
export async function startWorker(dir: string, runtimeUrl: string, token: string): Promise<Proc> {
  const proc = spawnProc(
    'worker-remote',
    process.execPath,
    [join(REPO_ROOT, 'packages', 'worker', 'dist', 'main.js'), '--dir', dir, '--url', `${runtimeUrl.replace(/^http/, 'ws')}/__cfp/worker`, '--token', token],
    { ...process.env, NO_COLOR: '1' },
    dir,
  )
  try {
    await proc.waitForLine(/registered \d+ steps/, 60_000)
    return proc
  } catch (e) {
    await proc.stop()
    throw e
  }
}
