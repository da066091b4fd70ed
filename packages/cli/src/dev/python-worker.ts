/**
 * The Python worker of `cfp dev`: `<venv>/bin/python -m cfp_worker --dir … --url … --watch`, its output
 * prefixed `[python]`, restarted with backoff when it crashes (as the Node worker is). The worker notices by
 * itself when `cfp dev` is gone (CFP_PARENT_PID) and restarts its own process on a `.py` change (hot reload).
 */
import { type LineSink, ManagedChild } from './child.js'
import { pythonWorkerArgs } from './python.js'

export interface PythonWorkerOptions {
  dir: string
  url: string
  token: string
  /** The environment's interpreter. */
  python: string
  sink: LineSink
  env: NodeJS.ProcessEnv
  /** Reload on `.py` changes (cfp dev). */
  watch: boolean
  /** Registers a started child with the guardian. */
  guard?: (child: ManagedChild) => void
  restartMinMs?: number
  restartMaxMs?: number
}

export class PythonWorker {
  private child: ManagedChild | undefined
  private timer: NodeJS.Timeout | undefined
  private delay: number
  private stopped = false
  private registeredOnce = false
  private waiters: Array<() => void> = []

  constructor(private readonly opts: PythonWorkerOptions) {
    this.delay = opts.restartMinMs ?? 1_000
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  start(): void {
    const { opts } = this
    const env = {
      ...opts.env,
      CFP_WORKER_TOKEN: opts.token,
      CFP_PARENT_PID: String(process.pid),
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    }
    const child = new ManagedChild(
      { name: 'python', command: opts.python, args: pythonWorkerArgs(opts.dir, opts.url, opts.watch), env, cwd: opts.dir },
      (name, stream, line) => {
        opts.sink(name, stream, line)
        if (line.startsWith('cfp-worker-py: registered')) {
          this.registeredOnce = true
          for (const w of this.waiters) w()
          this.waiters = []
        }
      },
    )
    this.child = child
    opts.guard?.(child)
    void child.exited.then((exit) => {
      if (this.stopped || this.child !== child) return
      if (Date.now() - child.startedAt > 30_000) this.delay = opts.restartMinMs ?? 1_000
      const delay = this.delay
      this.delay = Math.min(this.delay * 2, opts.restartMaxMs ?? 30_000)
      opts.sink('cfp', 'stderr', `the Python worker exited (${ManagedChild.describeExit(exit)}); restarting it in ${(delay / 1000).toFixed(1)} s`)
      this.timer = setTimeout(() => {
        this.timer = undefined
        if (!this.stopped) this.start()
      }, delay)
    })
  }

  /** Resolves true once the worker has registered its steps, false after `timeoutMs`. */
  registered(timeoutMs: number): Promise<boolean> {
    if (this.registeredOnce) return Promise.resolve(true)
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs)
      this.waiters.push(() => {
        clearTimeout(t)
        resolve(true)
      })
    })
  }

  async stop(graceMs: number): Promise<{ killed: boolean } | undefined> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    for (const w of this.waiters) w()
    this.waiters = []
    return this.child?.stop('SIGTERM', graceMs)
  }
}
