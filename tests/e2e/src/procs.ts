/**
 * Processes under test: spawned in their own process group, output captured line by line (and written to a log
 * file), and every descendant tracked so that nothing outlives the test — `cfp dev` puts each of its children in
 * a process group of its own, so killing its group alone would leave them running.
 *
 * A `ProcessTree` samples the descendants of a root pid from /proc every 200 ms and remembers each one with its
 * start time (so a recycled pid is never signalled). `killAll()` SIGKILLs the process groups they lead and the
 * processes themselves, never the group of the test process.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from 'node:fs'
import { createInterface } from 'node:readline'

export interface ProcInfo {
  pid: number
  ppid: number
  pgid: number
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  start: string
  comm: string
}

export function readProc(pid: number): ProcInfo | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  const close = text.lastIndexOf(')')
  const comm = text.slice(text.indexOf('(') + 1, close)
  const fields = text.slice(close + 2).split(' ')
  // fields[0] is the state (field 3); ppid is field 4, pgrp field 5, starttime field 22
  const state = fields[0]
  if (state === 'Z' || state === 'X') return undefined // a zombie is as good as gone
  return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), start: fields[19] ?? '', comm }
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {
    return ''
  }
}

function allProcs(): ProcInfo[] {
  const out: ProcInfo[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const info = readProc(Number(name))
    if (info) out.push(info)
  }
  return out
}

/** The live descendants of `root` (not including it). */
export function descendants(root: number): ProcInfo[] {
  const procs = allProcs()
  const byParent = new Map<number, ProcInfo[]>()
  for (const p of procs) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p])
  const out: ProcInfo[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift() as number
    for (const child of byParent.get(pid) ?? []) {
      out.push(child)
      queue.push(child.pid)
    }
  }
  return out
}

/** Whether the process recorded in `info` still runs (same pid and start time, not a zombie). */
export function isAlive(info: ProcInfo): boolean {
  const now = readProc(info.pid)
  return now !== undefined && now.start === info.start
}

const OWN_PGID = readProc(process.pid)?.pgid

export class ProcessTree {
  readonly known = new Map<number, ProcInfo & { cmd: string }>()
  private timer: NodeJS.Timeout | undefined

  constructor(readonly root: number) {
    this.scan()
    this.timer = setInterval(() => this.scan(), 200)
    this.timer.unref()
  }

  scan(): void {
    const root = readProc(this.root)
    const found = root ? [root, ...descendants(this.root)] : []
    for (const p of found) {
      const prev = this.known.get(p.pid)
      // A process seen between fork and exec still shows its parent's name and command line, and exec keeps
      // the start time: so both are read again at every scan while it runs (the last ones read are kept after)
      const cmd = cmdline(p.pid)
      if (!prev || prev.start !== p.start) this.known.set(p.pid, { ...p, cmd })
      else if (cmd !== '' && (cmd !== prev.cmd || p.comm !== prev.comm)) this.known.set(p.pid, { ...p, cmd })
    }
  }

  /** Every tracked process still running. */
  alive(): Array<ProcInfo & { cmd: string }> {
    return [...this.known.values()].filter(isAlive)
  }

  stopTracking(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  /** SIGKILLs every tracked process still running (and the process groups they lead). */
  killAll(): void {
    this.scan()
    for (const p of this.known.values()) {
      if (!isAlive(p)) continue
      if (p.pgid === p.pid && p.pgid !== OWN_PGID) {
        try {
          process.kill(-p.pgid, 'SIGKILL')
        } catch {
          // gone
        }
      }
      try {
        process.kill(p.pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
  }
}

export interface Line {
  stream: 'stdout' | 'stderr'
  text: string
  at: number
}

export interface SpawnOptions {
  name: string
  command: string
  args: string[]
  cwd: string
  env: NodeJS.ProcessEnv
  /** Where the output is also written. */
  logFile?: string
}

/** Every Proc not yet stopped: killed (with what they started) if the test process exits without stopping them. */
const running = new Set<Proc>()
process.once('exit', () => {
  for (const proc of running) proc.tree.killAll()
})

/** A process of the test: its own process group, its output as lines, its descendants tracked. */
export class Proc {
  readonly child: ChildProcess
  readonly lines: Line[] = []
  readonly tree: ProcessTree
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  private readonly log: WriteStream | undefined
  private listeners: Array<() => void> = []

  constructor(readonly opts: SpawnOptions) {
    this.log = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined
    this.child = spawn(opts.command, opts.args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    if (this.child.pid === undefined) throw new Error(`could not start ${opts.command}`)
    this.tree = new ProcessTree(this.child.pid)
    running.add(this)
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        this.tree.scan()
        this.note('stderr', `<${opts.name} exited: ${signal ?? `code ${code}`}>`)
        resolve({ code, signal })
      })
      this.child.once('error', (err) => {
        this.exit = { code: 127, signal: null }
        this.note('stderr', `<${opts.name} failed to start: ${err.message}>`)
        resolve(this.exit)
      })
    })
    for (const stream of ['stdout', 'stderr'] as const) {
      const input = this.child[stream]
      if (input) createInterface({ input, crlfDelay: Infinity }).on('line', (text) => this.note(stream, text))
    }
  }

  get pid(): number {
    return this.child.pid as number
  }

  private note(stream: 'stdout' | 'stderr', text: string): void {
    this.lines.push({ stream, text, at: Date.now() })
    // a grandchild may still print after the log was closed (the process itself exited): keep it in `lines` only
    if (this.log && !this.log.writableEnded) this.log.write(`${new Date().toISOString()} ${stream === 'stderr' ? 'E' : 'O'} ${text}\n`)
    for (const l of this.listeners) l()
  }

  /** All output so far as one string. */
  text(from = 0): string {
    return this.lines
      .slice(from)
      .map((l) => l.text)
      .join('\n')
  }

  tail(n = 60): string {
    return this.lines
      .slice(-n)
      .map((l) => `  ${l.text}`)
      .join('\n')
  }

  /** Resolves with the first line (from index `from`) matching `re`; rejects on timeout or exit. */
  waitForLine(re: RegExp, timeoutMs: number, from = 0): Promise<Line> {
    return new Promise((resolve, reject) => {
      let done = false
      const check = (): boolean => {
        for (let i = from; i < this.lines.length; i++) {
          const line = this.lines[i] as Line
          if (re.test(line.text)) {
            finish()
            resolve(line)
            return true
          }
        }
        return false
      }
      const finish = (): void => {
        done = true
        clearTimeout(timer)
        this.listeners = this.listeners.filter((l) => l !== listener)
      }
      const listener = (): void => {
        if (!done) check()
      }
      const timer = setTimeout(() => {
        if (done) return
        finish()
        reject(new Error(`${this.opts.name}: no output line matching ${re} within ${timeoutMs} ms. Last output:\n${this.tail(40)}`))
      }, timeoutMs)
      if (check()) return
      this.listeners.push(listener)
      void this.exited.then(() => {
        setTimeout(() => {
          if (done || check()) return
          finish()
          reject(new Error(`${this.opts.name} exited (${JSON.stringify(this.exit)}) before printing a line matching ${re}. Last output:\n${this.tail(40)}`))
        }, 50)
      })
    })
  }

  signal(sig: NodeJS.Signals): void {
    if (this.exit) return
    try {
      process.kill(this.pid, sig)
    } catch {
      // gone
    }
  }

  /** Waits for the exit, up to `timeoutMs`; undefined if it still runs. */
  async waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    let timer: NodeJS.Timeout | undefined
    const result = await Promise.race([this.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)))])
    clearTimeout(timer)
    return result
  }

  /** Signals, waits up to `graceMs`, then SIGKILLs it and everything it started. Never throws. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
    this.tree.scan()
    this.signal(sig)
    await this.waitExit(graceMs)
    // whatever is left (children of a process killed hard, or that did not stop) goes now
    this.tree.killAll()
    this.tree.stopTracking()
    await this.waitExit(5_000)
    running.delete(this)
    this.log?.end()
  }
}
