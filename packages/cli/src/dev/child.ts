/**
 * A child process of `cfp dev` whose output is forwarded line by line with a prefix, and which can be
 * stopped within a deadline (signal, then SIGKILL).
 *
 * Children run in their own process group (`detached`), so Ctrl-C reaches only `cfp dev`, which then stops
 * them in order: worker, runtime, PostgreSQL. `killAllSync` is the safety net when `cfp dev` exits; the
 * guardian process (guardian.ts) is the one when `cfp dev` is killed outright.
 *
 * @example
 * const child = new ManagedChild({ name: 'runtime', command: bin, args: [], env }, prefixedSink(process.stderr))
 * child.onStdoutLine((line) => line.startsWith('{') && checkReady(line))
 * const exit = await child.stop('SIGTERM', 10_000)
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface ChildSpec {
  name: string
  command: string
  args: string[]
  env: NodeJS.ProcessEnv
  cwd?: string
  uid?: number
  gid?: number
  /** Give the child an IPC channel (unused for messages): a Node child sees it close when we die. */
  ipc?: boolean
}

export interface ChildExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export type LineSink = (name: string, stream: 'stdout' | 'stderr', line: string) => void

const live = new Set<ManagedChild>()

function describeExit(exit: ChildExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`
}

export class ManagedChild {
  readonly name: string
  readonly process: ChildProcess
  readonly exited: Promise<ChildExit>
  readonly startedAt = Date.now()
  private exit: ChildExit | undefined
  private stdoutListeners: Array<(line: string) => boolean | void> = []
  /** The last lines of output, to explain a failure. */
  readonly tail: string[] = []

  constructor(spec: ChildSpec, sink: LineSink) {
    this.name = spec.name
    this.process = spawn(spec.command, spec.args, {
      env: spec.env,
      cwd: spec.cwd,
      uid: spec.uid,
      gid: spec.gid,
      detached: process.platform !== 'win32',
      stdio: spec.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    })
    live.add(this)
    this.exited = new Promise((resolve) => {
      const done = (exit: ChildExit) => {
        if (this.exit) return
        this.exit = exit
        live.delete(this)
        resolve(exit)
      }
      this.process.once('exit', (code, signal) => done({ code, signal }))
      this.process.once('error', (err) => {
        this.remember(`failed to start ${spec.command}: ${err.message}`)
        sink(this.name, 'stderr', `failed to start ${spec.command}: ${err.message}`)
        done({ code: 127, signal: null })
      })
    })
    const stdout = this.process.stdout
    const stderr = this.process.stderr
    if (stdout) {
      createInterface({ input: stdout, crlfDelay: Infinity }).on('line', (line) => {
        this.remember(line)
        for (const listener of this.stdoutListeners) if (listener(line) === true) return
        sink(this.name, 'stdout', line)
      })
    }
    if (stderr) {
      createInterface({ input: stderr, crlfDelay: Infinity }).on('line', (line) => {
        this.remember(line)
        sink(this.name, 'stderr', line)
      })
    }
  }

  get pid(): number | undefined {
    return this.process.pid
  }

  get hasExited(): boolean {
    return this.exit !== undefined
  }

  /** Sees each stdout line first; returning `true` swallows the line (it is not forwarded). */
  onStdoutLine(listener: (line: string) => boolean | void): void {
    this.stdoutListeners.push(listener)
  }

  private remember(line: string): void {
    this.tail.push(line)
    if (this.tail.length > 40) this.tail.shift()
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exit || this.process.pid === undefined) return
    try {
      // the whole process group: a child's own children (e.g. tsx, npm) stop too
      if (process.platform !== 'win32') process.kill(-this.process.pid, signal)
      else this.process.kill(signal)
    } catch {
      try {
        this.process.kill(signal)
      } catch {
        // already gone
      }
    }
  }

  /** Sends `signal`, waits up to `graceMs`, then SIGKILLs. Resolves with how it ended. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<ChildExit & { killed: boolean }> {
    if (this.exit) return { ...this.exit, killed: false }
    this.signal(signal)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs)
    })
    const first = await Promise.race([this.exited, timeout])
    clearTimeout(timer)
    if (first !== 'timeout') return { ...first, killed: false }
    this.signal('SIGKILL')
    return { ...(await this.exited), killed: true }
  }

  static describeExit = describeExit
}

/** Kills every child still running; for `process.on('exit')`, where nothing asynchronous can run. */
export function killAllSync(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const child of live) child.signal(signal)
}

const COLORS: Record<string, string> = { runtime: '36', worker: '35', postgres: '34', types: '33', cfp: '32' }

/** Writes `[name] line` to the given streams, coloured when they are terminals. */
export function prefixedSink(out: NodeJS.WritableStream & { isTTY?: boolean }, err: NodeJS.WritableStream & { isTTY?: boolean }): LineSink {
  const width = 8
  return (name, stream, line) => {
    const target = stream === 'stdout' ? out : err
    const label = `[${name}]`.padEnd(width + 2)
    const color = COLORS[name]
    const prefix = target.isTTY && color && !process.env.NO_COLOR ? `\u001b[${color}m${label}\u001b[0m` : label
    target.write(`${prefix} ${line}\n`)
  }
}
