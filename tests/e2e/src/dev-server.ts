/**
 * `cfp dev` on a copy of a project, for one test file.
 *
 * `useDevProject({ source, env })` registers vitest hooks: beforeAll copies the project to .work/, creates a
 * database of its own (`cfp_e2e_<random>`, passed as DATABASE_URL; `embedded: true` lets cfp dev start its
 * embedded PostgreSQL instead), picks a free port and starts `cfp dev`, waiting for the worker's first
 * registration; afterAll stops it with SIGINT (then SIGKILLs whatever is left, children included), drops the
 * database and removes the copy. A failed test prints the end of cfp dev's output.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { TestDb } from './db.js'
import { CLI_MAIN, childEnv } from './env.js'
import { Proc } from './procs.js'
import { copyProject, freePort, http, type HttpResult, removeProject, runCli, type CliResult } from './util.js'

export interface DevOptions {
  /** Project directory to copy (a fixture or an example). */
  source: string
  /** Extra environment for cfp dev (and, through it, the runtime and the worker). */
  env?: Record<string, string>
  /** Extra arguments of `cfp dev` (default `--no-types`, which only fixtures use). */
  args?: string[]
  /** Let cfp dev start its embedded PostgreSQL (no DATABASE_URL). */
  embedded?: boolean
  /** How long to wait for the first registration (default 90 s). */
  readyTimeoutMs?: number
  /** Files written into the copy before cfp dev starts (path relative to the project -> content). */
  extraFiles?: Record<string, string>
  /**
   * Start the project's own npm script instead of `cfp dev` (`npm run <script> -- --port <port>`), as its user
   * does; `prepare` runs on the copy first (e.g. to link node_modules/.bin).
   */
  npmScript?: string
  prepare?: (dir: string) => void
}

export class DevServer {
  proc!: Proc
  url!: string
  port!: number

  constructor(
    readonly dir: string,
    readonly db: TestDb | undefined,
    readonly opts: DevOptions,
  ) {}

  async start(): Promise<void> {
    this.port = await freePort()
    const env = childEnv({ ...(this.db ? { DATABASE_URL: this.db.url } : {}), ...this.opts.env })
    const script = this.opts.npmScript
    this.proc = new Proc({
      name: script ? `npm run ${script}` : 'cfp dev',
      command: script ? 'npm' : process.execPath,
      args: script
        ? ['run', script, '--', '--port', String(this.port), ...(this.opts.args ?? [])]
        : [CLI_MAIN, 'dev', '--port', String(this.port), '--dir', this.dir, ...(this.opts.args ?? ['--no-types'])],
      cwd: this.dir,
      env,
      logFile: join(this.dir, 'cfp-dev.log'),
    })
    const timeout = this.opts.readyTimeoutMs ?? 90_000
    const banner = await this.proc.waitForLine(/^\[cfp\]\s+URL\s+http:\/\/\S+/, timeout)
    this.url = (banner.text.match(/http:\/\/\S+/) as RegExpMatchArray)[0]
    await this.proc.waitForLine(/^\[worker\]\s+cfp-worker: registered \d+ steps/, timeout)
  }

  /** A request to the dev server (`path` starts with /). */
  fetch(path: string, init: RequestInit & { timeoutMs?: number; json?: unknown } = {}): Promise<HttpResult> {
    return http(`${this.url}${path}`, init)
  }

  /** `POST /__cfp/api/emit` (what `cfp emit` does). */
  async emit(topic: string, data: unknown, messageGroupId?: string): Promise<{ eventId: string; traceId: string }> {
    const res = await this.fetch('/__cfp/api/emit', { method: 'POST', json: { topic, data, ...(messageGroupId ? { messageGroupId } : {}) } })
    if (res.status !== 202) throw new Error(`emit ${topic}: ${res.status} ${res.text}`)
    return res.json
  }

  /** Log lines stored by the runtime (`GET /__cfp/api/logs`). */
  async logs(query: Record<string, string>): Promise<Array<{ msg: string; level: string; step?: string; traceId?: string; data?: any; tsMs: number }>> {
    const res = await this.fetch(`/__cfp/api/logs?${new URLSearchParams({ limit: '1000', ...query })}`)
    if (res.status !== 200) throw new Error(`logs: ${res.status} ${res.text}`)
    return res.json.logs
  }

  /** Runs `cfp <args>` in the project directory (it finds the server through .cfp/dev.json). */
  cli(args: string[], timeoutMs = 30_000): Promise<CliResult> {
    return runCli(args, { cwd: this.dir, timeoutMs })
  }

  /** Output of cfp dev (all children, prefixed `[runtime]`, `[worker]`, …) from line index `from`. */
  output(from = 0): string {
    return this.proc.text(from)
  }

  /** SIGINT (Ctrl-C), then SIGKILL for anything left after `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    // npm run: Ctrl-C reaches the whole process group (npm, the shell, cfp dev), as in a terminal
    if (this.opts.npmScript && this.proc?.pid) {
      try {
        process.kill(-this.proc.pid, 'SIGINT')
      } catch {
        // gone
      }
    }
    await this.proc?.stop('SIGINT', graceMs)
  }
}

/** Registers the hooks that run `cfp dev` on a copy of `opts.source` for the tests of one file. */
export function useDevProject(opts: DevOptions): { readonly server: DevServer; readonly db: TestDb } {
  let server: DevServer | undefined
  let db: TestDb | undefined
  let dir: string | undefined

  beforeAll(
    async () => {
      dir = copyProject(opts.source)
      for (const [file, text] of Object.entries(opts.extraFiles ?? {})) {
        mkdirSync(dirname(join(dir, file)), { recursive: true })
        writeFileSync(join(dir, file), text)
      }
      opts.prepare?.(dir)
      db = opts.embedded ? undefined : await TestDb.create()
      server = new DevServer(dir, db, opts)
      await server.start()
    },
    (opts.readyTimeoutMs ?? 90_000) + 30_000,
  )

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && !ctx.task.fails && server?.proc) {
      console.error(`--- cfp dev output (last 80 lines) for "${ctx.task.name}" ---\n${server.proc.tail(80)}`)
    }
  })

  afterAll(async () => {
    try {
      await server?.stop()
    } finally {
      try {
        await db?.drop()
      } finally {
        if (dir) removeProject(dir)
      }
    }
  }, 90_000)

  return {
    get server() {
      if (!server) throw new Error('cfp dev did not start')
      return server
    },
    get db() {
      if (!db) throw new Error('no test database (embedded PostgreSQL in use)')
      return db
    },
  }
}
