/**
 * `cfp dev [--port 3000] [--host 127.0.0.1] [--dir .]`: the local development server.
 *
 * Start order: database (embedded PostgreSQL in `.cfp/pg` unless `DATABASE_URL` is set) → runtime (waits for
 * its `{"ready":true,"addr":…}` line on stdout) → `.cfp/dev.json` → worker (with `--watch`, restarted with
 * backoff when it crashes) → types.d.ts refresh in the background. Stop order on Ctrl-C/SIGTERM, or when the
 * runtime or database dies: worker → runtime → PostgreSQL, each within a deadline; dev.json is removed.
 *
 * A project with Python steps (`*_step.py`) also gets a Python worker (dev/python-worker.ts): its virtual
 * environment `.cfp/venv` is prepared while the database and runtime start (dev/python.ts); when that fails the
 * error says which command fixes it and the TypeScript steps run without it.
 * On start, `.cfp/` is added to the project's `.gitignore` (created if absent; said once). A failed attempt, a
 * thrown API handler and a dead-lettered delivery print one readable line each (`dev/failures.ts`).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { killAllSync, type LineSink, ManagedChild, prefixedSink } from '../dev/child.js'
import { colorFor, failureSink } from '../dev/failures.js'
import { Guardian } from '../dev/guardian.js'
import { assertPortFree } from '../dev/ports.js'
import { type RunningPostgres, redactUrl, startEmbeddedPostgres } from '../dev/postgres.js'
import { ensurePythonEnv, hasPythonSteps, type PythonEnv, projectDotEnv } from '../dev/python.js'
import { PythonWorker } from '../dev/python-worker.js'
import { resolveRuntimeBinary } from '../dev/runtime-bin.js'
import { devFilePath, isProcessAlive, readDevFile, removeDevFile, writeDevFile } from '../util/dev-file.js'
import { CliError, formatError } from '../util/errors.js'
import { ensureGitignored } from '../util/gitignore.js'
import type { CommandIo } from '../util/io.js'
import { cliPackageRoot, repoRoot, resolveWorkerMain } from '../util/paths.js'

export interface DevOptions {
  port: number
  host: string
  dir: string
  /** How long to wait for the runtime's ready line (default 60 s, env CFP_DEV_READY_TIMEOUT_MS). */
  readyTimeoutMs?: number
  /** Regenerate types.d.ts once the worker runs (default true). */
  generateTypes?: boolean
  /** Forward PostgreSQL's routine log lines too. */
  verbose?: boolean
  /** No loopback trust: the runtime enforces what production enforces (CFP_REQUIRE_AUTH=true does the same). */
  requireAuth?: boolean
  /**
   * Deadlines for stopping each child (ms): worker 10 s, runtime 20 s (its own drain deadline,
   * CFP_SHUTDOWN_TIMEOUT_MS, is 10 s), PostgreSQL 10 s; then SIGKILL.
   */
  workerGraceMs?: number
  runtimeGraceMs?: number
  postgresGraceMs?: number
  /** Worker restart backoff: first delay and cap (ms). */
  restartMinMs?: number
  restartMaxMs?: number
  /** How long start-up waits for the worker's first registration before printing the banner anyway. */
  registerTimeoutMs?: number
  /** Where child output goes; `[name] line` on the process's streams by default. */
  sink?: LineSink
  /** Colour the failure lines (default: stdout is a terminal and NO_COLOR is unset). */
  color?: boolean
  /** Installs SIGINT/SIGTERM/SIGHUP handlers (default true); tests call `session.shutdown()` instead. */
  handleSignals?: boolean
}

export interface DevSessionInfo {
  url: string
  adminToken: string
  workerToken: string
  databaseUrl: string
  embedded: boolean
  runtimeBinary: string
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1'])

function token(): string {
  return randomBytes(32).toString('base64url')
}

/** Parses the runtime's readiness line; undefined for any other line. */
export function parseReadyLine(line: string): { addr: string } | undefined {
  const trimmed = line.trim()
  if (!trimmed.startsWith('{')) return undefined
  try {
    const parsed = JSON.parse(trimmed) as { ready?: unknown; addr?: unknown }
    if (parsed.ready === true && typeof parsed.addr === 'string') return { addr: parsed.addr }
  } catch {
    // a log line that happens to start with '{'
  }
  return undefined
}

/** The URL clients use for a listen address; a wildcard address (0.0.0.0, [::]) is reached over loopback. */
export function httpUrl(addr: string): string {
  const local = addr.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:')
  return `http://${local}`
}

function assertProject(dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CliError(`${dir} does not exist or is not a directory`, {
      action: 'Pass the project directory with --dir, or create a project with `cfp create my-app`.',
    })
  }
  if (!existsSync(join(dir, 'steps')) && !existsSync(join(dir, 'src'))) {
    throw new CliError(`${dir} has no steps/ or src/ directory`, {
      explanation: 'cfp dev loads step files (*.step.ts, *_step.js, …) from steps/ and src/.',
      action: 'Run cfp dev inside a project (or pass --dir), or create one with `cfp create my-app`.',
    })
  }
}

/** Whether `node_modules/<name>` exists in `dir` or a parent (npm workspaces hoist to the root). */
function resolvable(dir: string, name: string): boolean {
  let current = dir
  for (;;) {
    if (existsSync(join(current, 'node_modules', name))) return true
    const parent = dirname(current)
    if (parent === current) return false
    current = parent
  }
}

function warnMissingModules(dir: string, sink: LineSink): void {
  let dependencies: Record<string, string>
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
    dependencies = manifest.dependencies ?? {}
  } catch {
    return // no package.json: nothing to check
  }
  const missing = Object.keys(dependencies).filter((name) => !resolvable(dir, name))
  if (missing.length > 0) {
    sink('cfp', 'stderr', `warning: ${missing.join(', ')} not installed for ${dir}; run \`npm install\` there if steps fail to import them`)
  }
}

function assertNotRunning(dir: string): void {
  const path = devFilePath(dir)
  if (!existsSync(path)) return
  let info
  try {
    info = readDevFile(path)
  } catch {
    return // damaged: it will be overwritten
  }
  if (isProcessAlive(info.pid)) {
    throw new CliError(`cfp dev is already running for this project (pid ${info.pid}, ${info.url})`, {
      action: `Use that server, or stop it first (Ctrl-C in its terminal, or \`kill ${info.pid}\`).`,
    })
  }
}

/** One run of `cfp dev`; `done` resolves with the exit code once everything has stopped. */
/**
 * The built workbench to serve under /__cfp/: `CFP_WORKBENCH_DIR`, else `<repo>/apps/workbench/dist` when it
 * has an index.html; undefined when neither exists.
 */
export function resolveWorkbenchDir(env: NodeJS.ProcessEnv, repo: string): string | undefined {
  const candidates = [env.CFP_WORKBENCH_DIR, join(repo, 'apps', 'workbench', 'dist')].filter((d): d is string => !!d)
  return candidates.map((d) => resolve(d)).find((d) => existsSync(join(d, 'index.html')))
}

export class DevSession {
  readonly dir: string
  private readonly sink: LineSink
  private pg: RunningPostgres | undefined
  private runtime: ManagedChild | undefined
  private worker: ManagedChild | undefined
  private pyWorker: PythonWorker | undefined
  private typesChild: ManagedChild | undefined
  private workbenchDir: string | undefined
  private restartTimer: NodeJS.Timeout | undefined
  private restartDelay: number
  private stopping: Promise<number> | undefined
  private resolveDone!: (code: number) => void
  readonly done: Promise<number>
  info: DevSessionInfo | undefined
  private readonly signalHandlers: Array<[NodeJS.Signals, () => void]> = []
  private readonly onExit = () => killAllSync('SIGKILL')
  /** Stops the children if this process is killed outright (SIGKILL), when no handler of ours runs. */
  private guardian: Guardian | undefined

  constructor(private readonly opts: DevOptions) {
    this.dir = resolve(opts.dir)
    // failed attempts, thrown API handlers and dead letters become one readable line each (dev/failures.ts)
    this.sink = failureSink(opts.sink ?? prefixedSink(process.stdout, process.stderr), opts.color ?? colorFor(process.stdout, process.env))
    this.restartDelay = opts.restartMinMs ?? 1_000
    this.done = new Promise((r) => {
      this.resolveDone = r
    })
  }

  /** Has the guardian stop `child` (its process group) if cfp dev dies without doing it. */
  private guard(child: ManagedChild, signal: NodeJS.Signals, graceMs: number): void {
    if (!this.guardian || child.pid === undefined) return
    const pid = child.pid
    this.guardian.watch(pid, signal, graceMs)
    void child.exited.then(() => this.guardian?.forget(pid))
  }

  private say(line: string): void {
    this.sink('cfp', 'stderr', line)
  }

  async start(): Promise<DevSessionInfo> {
    const { host, port } = this.opts
    assertProject(this.dir)
    assertNotRunning(this.dir)
    const ignored = ensureGitignored(this.dir)
    if (ignored === 'created') this.say("created .gitignore with .cfp/ in it (cfp dev's local data and admin token stay out of git)")
    if (ignored === 'added') this.say("added .cfp/ to .gitignore (cfp dev's local data and admin token stay out of git)")
    const runtimeBinary = resolveRuntimeBinary({ env: process.env, repoRoot: repoRoot() })
    const workerMain = resolveWorkerMain()
    await assertPortFree(host, port)
    warnMissingModules(this.dir, this.sink)
    process.on('exit', this.onExit)
    this.guardian = Guardian.start()
    if (this.opts.handleSignals !== false) this.installSignalHandlers()
    // types.d.ts is refreshed while the database and runtime start, and before the worker starts, so
    // the worker's file watcher does not reload for it
    const types = this.opts.generateTypes !== false ? this.refreshTypes() : Promise.resolve()
    // the Python environment is prepared while the database and the runtime start
    const pyEnv: Promise<PythonEnv | Error> | undefined = hasPythonSteps(this.dir)
      ? ensurePythonEnv(this.dir, this.sink).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))
      : undefined

    try {
      const external = process.env.DATABASE_URL
      let databaseUrl: string
      if (external) {
        databaseUrl = external
      } else {
        this.say('starting the embedded PostgreSQL (.cfp/pg)…')
        this.pg = await startEmbeddedPostgres({
          projectDir: this.dir,
          sink: this.sink,
          verbose: this.opts.verbose,
          // SIGINT is PostgreSQL's fast shutdown
          onSpawn: (child) => this.guard(child, 'SIGINT', this.opts.postgresGraceMs ?? 10_000),
        })
        databaseUrl = this.pg.url
        this.watchUnexpectedExit(this.pg.child, 'PostgreSQL')
      }
      this.assertNotStopping()

      this.workbenchDir = resolveWorkbenchDir(process.env, repoRoot())
      const adminToken = token()
      const workerToken = token()
      const addr = await this.startRuntime(runtimeBinary.path, {
        DATABASE_URL: databaseUrl,
        CFP_LISTEN: `${host.includes(':') ? `[${host}]` : host}:${port}`,
        CFP_WORKER_TOKEN: workerToken,
        CFP_ADMIN_TOKEN: adminToken,
        CFP_DEV: 'true',
        // Dev endpoints (emit, DLQ operations) stay on in dev, still role-checked under --require-auth.
        ...(process.env.CFP_DEV_ENDPOINTS === undefined ? { CFP_DEV_ENDPOINTS: 'true' } : {}),
        ...(this.opts.requireAuth ? { CFP_REQUIRE_AUTH: 'true' } : {}),
        CFP_DATA_DIR: join(this.dir, '.cfp', 'data'),
        CFP_LAYOUT_FILE: join(this.dir, 'motia-workbench.json'),
        ...(this.workbenchDir ? { CFP_WORKBENCH_DIR: this.workbenchDir } : {}),
      })
      this.assertNotStopping()
      const url = httpUrl(addr)
      writeDevFile(this.dir, {
        url,
        adminToken,
        pid: process.pid,
        database: external ? 'DATABASE_URL' : 'embedded',
        databaseUrl,
        startedAt: new Date().toISOString(),
      })
      this.info = { url, adminToken, workerToken, databaseUrl, embedded: !external, runtimeBinary: runtimeBinary.path }
      await types
      this.assertNotStopping()
      this.startWorker(workerMain)
      if (pyEnv) await this.startPythonWorker(await pyEnv)
      // The banner says "ready": wait (bounded) until the workers have registered the project's steps, so the
      // first request after it finds its route.
      await this.workerRegistered(this.opts.registerTimeoutMs ?? 20_000)
      if (this.pyWorker && !(await this.pyWorker.registered(this.opts.registerTimeoutMs ?? 20_000)) && !this.stopping) {
        this.say('the Python worker has not registered its steps yet; continuing (see its output above)')
      }
      this.assertNotStopping()
      this.printBanner(this.info, runtimeBinary.source)
      return this.info
    } catch (err) {
      await this.shutdown('startup failed', 1)
      throw err
    }
  }

  private assertNotStopping(): void {
    if (this.stopping) throw new CliError('cfp dev was stopped while starting', { exitCode: 130 })
  }

  private installSignalHandlers(): void {
    let count = 0
    const handler = (signal: NodeJS.Signals) => () => {
      count++
      if (count === 1) {
        const parts = ['worker', 'runtime', ...(this.pg ? ['database'] : [])].join(', ')
        this.say(`${signal} received: stopping (${parts})… press Ctrl-C again to force`)
        void this.shutdown(signal, 0)
      } else {
        this.say('forcing: killing every child now')
        killAllSync('SIGKILL')
        removeDevFile(this.dir)
        process.exit(130)
      }
    }
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const h = handler(signal)
      this.signalHandlers.push([signal, h])
      process.on(signal, h)
    }
  }

  private async startRuntime(bin: string, extraEnv: Record<string, string>): Promise<string> {
    // its logs are re-prefixed here; colours only help when they end up on a terminal
    const colour = process.stderr.isTTY || process.env.NO_COLOR !== undefined ? {} : { NO_COLOR: '1' }
    const runtime = new ManagedChild({ name: 'runtime', command: bin, args: [], env: { ...process.env, ...colour, ...extraEnv }, cwd: this.dir }, this.sink)
    this.runtime = runtime
    this.guard(runtime, 'SIGTERM', this.opts.runtimeGraceMs ?? 20_000)
    const timeoutMs = this.opts.readyTimeoutMs ?? (Number(process.env.CFP_DEV_READY_TIMEOUT_MS) || 60_000)
    const ready = new Promise<string>((resolveReady) => {
      runtime.onStdoutLine((line) => {
        const parsed = parseReadyLine(line)
        if (parsed) resolveReady(parsed.addr)
        return parsed !== undefined
      })
    })
    let timer: NodeJS.Timeout | undefined
    const outcome = await Promise.race([
      ready,
      runtime.exited.then((exit) => ({ exit })),
      new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    if (typeof outcome === 'string' && outcome !== 'timeout') {
      this.watchUnexpectedExit(runtime, 'the runtime')
      return outcome
    }
    const tail = runtime.tail.slice(-12).join('\n  ')
    if (outcome === 'timeout') {
      throw new CliError(`The runtime did not report ready within ${timeoutMs / 1000} s`, {
        explanation: `It should print {"ready":true,"addr":"…"} on stdout once it listens.${tail ? `\n  Last output:\n  ${tail}` : ''}`,
        action: 'Check the runtime output above (database reachable? port free?), or raise CFP_DEV_READY_TIMEOUT_MS.',
      })
    }
    throw new CliError(`The runtime stopped while starting (${ManagedChild.describeExit(outcome.exit)})`, {
      explanation: tail ? `Last output:\n  ${tail}` : undefined,
      action: `Check the messages above; the binary was ${bin}.`,
    })
  }

  private watchUnexpectedExit(child: ManagedChild, label: string): void {
    void child.exited.then((exit) => {
      if (this.stopping) return
      this.say(`${label} exited unexpectedly (${ManagedChild.describeExit(exit)}); stopping everything`)
      void this.shutdown(`${label} died`, 1)
    })
  }

  private onRegistered: (() => void) | undefined
  private registeredOnce = false

  /** Resolves when the worker first prints `cfp-worker: registered …`, or after `timeoutMs` (with a note). */
  private workerRegistered(timeoutMs: number): Promise<void> {
    if (this.registeredOnce) return Promise.resolve()
    return new Promise((done) => {
      const timer = setTimeout(() => {
        this.onRegistered = undefined
        this.say(`the worker has not registered its steps after ${timeoutMs / 1000} s; continuing (see its output above)`)
        done()
      }, timeoutMs)
      this.onRegistered = () => {
        clearTimeout(timer)
        done()
      }
    })
  }

  private startWorker(main: string): void {
    const args: string[] = []
    const envFile = join(this.dir, '.env')
    if (existsSync(envFile)) args.push(`--env-file=${envFile}`)
    // The token travels in the environment: never visible in the process list, and a value starting with `-`
    // (base64url) cannot be mistaken for an option.
    args.push(main, '--dir', this.dir, '--url', this.workerUrl(), '--watch')
    const env = {
      ...process.env,
      NODE_ENV: process.env.NODE_ENV ?? 'development',
      // Readable lines under `cfp dev` (the worker's default outside it is JSON).
      CFP_LOG_FORMAT: process.env.CFP_LOG_FORMAT ?? 'pretty',
      CFP_WORKER_TOKEN: this.info?.workerToken ?? '',
    }
    const worker = new ManagedChild(
      // the IPC channel lets the worker itself notice at once when cfp dev is gone (it drains and exits)
      { name: 'worker', command: process.execPath, args, env, cwd: this.dir, ipc: true },
      (name, stream, line) => {
        this.sink(name, stream, line)
        if (!this.registeredOnce && line.startsWith('cfp-worker: registered')) {
          this.registeredOnce = true
          this.onRegistered?.()
        }
      },
    )
    this.worker = worker
    this.guard(worker, 'SIGTERM', this.opts.workerGraceMs ?? 10_000)
    void worker.exited.then((exit) => {
      if (this.stopping || this.worker !== worker) return
      const lived = Date.now() - worker.startedAt
      if (lived > 30_000) this.restartDelay = this.opts.restartMinMs ?? 1_000
      const delay = this.restartDelay
      this.restartDelay = Math.min(this.restartDelay * 2, this.opts.restartMaxMs ?? 30_000)
      this.say(`the worker exited (${ManagedChild.describeExit(exit)}); restarting it in ${(delay / 1000).toFixed(1)} s`)
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined
        if (!this.stopping) this.startWorker(main)
      }, delay)
    })
  }

  /** Starts the Python worker, or explains why it cannot run (the TypeScript steps run regardless). */
  private async startPythonWorker(env: PythonEnv | Error): Promise<void> {
    this.assertNotStopping()
    if (env instanceof Error) {
      for (const line of formatError(env).split('\n')) this.sink('python', 'stderr', line)
      this.say('continuing without the Python worker: the Python steps are not registered')
      return
    }
    this.pyWorker = new PythonWorker({
      dir: this.dir,
      url: this.workerUrl(),
      token: this.info?.workerToken ?? '',
      python: env.python,
      sink: this.sink,
      env: { ...projectDotEnv(this.dir), ...process.env },
      watch: true,
      guard: (child) => this.guard(child, 'SIGTERM', this.opts.workerGraceMs ?? 10_000),
      restartMinMs: this.opts.restartMinMs,
      restartMaxMs: this.opts.restartMaxMs,
    })
    this.pyWorker.start()
  }

  private workerUrl(): string {
    const url = new URL(this.info?.url ?? 'http://127.0.0.1')
    return `ws://${url.host}/__cfp/worker`
  }

  /**
   * Runs `cfp generate-types` as a separate process, so a step file's import side effects stay out of
   * `cfp dev`. Never fails the start: resolves when it ends or after 30 s.
   */
  private async refreshTypes(): Promise<void> {
    const main = join(cliPackageRoot(), 'dist', 'main.js')
    if (!existsSync(main)) return
    const child = new ManagedChild(
      { name: 'types', command: process.execPath, args: [main, 'generate-types', '--dir', this.dir, '--quiet'], env: process.env, cwd: this.dir },
      this.sink,
    )
    this.typesChild = child
    let timer: NodeJS.Timeout | undefined
    await Promise.race([child.exited, new Promise((r) => (timer = setTimeout(r, 30_000)))])
    clearTimeout(timer)
    if (!child.hasExited) {
      this.say('types.d.ts generation is slow; continuing without waiting for it')
    }
  }

  private printBanner(info: DevSessionInfo, runtimeSource: string): void {
    const lines = [
      '',
      `  CFP dev server ready`,
      '',
      `  URL        ${info.url}`,
      this.workbenchDir
        ? `  Workbench  ${info.url}/__cfp/`
        : `  Workbench  not built — run \`npm run build -w apps/workbench\` (or set CFP_WORKBENCH_DIR) and restart`,
      `  Project    ${this.dir}`,
      `  Database   ${info.embedded ? `embedded PostgreSQL in ${join(this.dir, '.cfp', 'pg')} (${redactUrl(info.databaseUrl)})` : `DATABASE_URL ${redactUrl(info.databaseUrl)}`}`,
      `  Runtime    ${info.runtimeBinary} (${runtimeSource})`,
      this.opts.requireAuth || /^(true|1|yes)$/i.test(process.env.CFP_REQUIRE_AUTH ?? '')
        ? `  Identity   --require-auth: every request needs a token, as in production (admin token in .cfp/dev.json)`
        : `  Identity   requests from loopback (127.0.0.1, ::1) run as you, the local developer`,
    ]
    if (!LOOPBACK.has(this.opts.host)) {
      lines.push(`  Warning    listening on ${this.opts.host}: other machines can reach this server; they need a token`)
    }
    lines.push(`  Try        cfp emit --topic <topic> --data '{}'   ·   cfp dlq list`, `  Stop       Ctrl-C`, '')
    for (const line of lines) this.sink('cfp', 'stdout', line)
  }

  /** Stops worker, runtime and database in that order; idempotent. Resolves `done` with `code`. */
  shutdown(reason: string, code: number): Promise<number> {
    // Nothing waits for the worker's registration once stopping.
    this.onRegistered?.()
    if (this.stopping) return this.stopping
    this.stopping = (async () => {
      if (this.restartTimer) clearTimeout(this.restartTimer)
      await this.typesChild?.stop('SIGTERM', 2_000)
      const steps: Array<[string, () => Promise<unknown>]> = []
      const worker = this.worker
      const runtime = this.runtime
      const pg = this.pg
      const py = this.pyWorker
      const grace = this.opts.workerGraceMs ?? 10_000
      if (worker || py) {
        const stopWorkers = async () => {
          const [node, python] = await Promise.all([worker?.stop('SIGTERM', grace), py?.stop(grace)])
          if (python?.killed) this.say('the Python worker did not stop in time and was killed')
          return node
        }
        steps.push(['worker', stopWorkers])
      }
      if (runtime) steps.push(['runtime', () => runtime.stop('SIGTERM', this.opts.runtimeGraceMs ?? 20_000)])
      if (pg) steps.push(['PostgreSQL', () => pg.stop(this.opts.postgresGraceMs ?? 10_000)])
      for (const [name, stop] of steps) {
        try {
          const result = (await stop()) as { killed?: boolean } | undefined
          if (result?.killed) this.say(`${name} did not stop in time and was killed`)
        } catch (err) {
          this.say(`could not stop ${name}: ${formatError(err)}`)
        }
      }
      removeDevFile(this.dir)
      await this.guardian?.release()
      for (const [signal, handler] of this.signalHandlers) process.off(signal, handler)
      process.off('exit', this.onExit)
      if (reason !== 'startup failed') this.say(code === 0 ? 'stopped' : `stopped (${reason})`)
      this.resolveDone(code)
      return code
    })()
    return this.stopping
  }
}

/** Runs `cfp dev` until it is stopped; returns the exit code. */
export async function runDev(opts: DevOptions, _io: CommandIo): Promise<number> {
  const session = new DevSession(opts)
  await session.start()
  return session.done
}
