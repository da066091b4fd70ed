/**
 * The guardian of `cfp dev`'s children: a small detached process that stops them when `cfp dev` dies without
 * stopping them itself (SIGKILL, OOM kill). Children run in their own process groups, so nothing else would:
 * an orphaned runtime keeps the port and the database, an orphaned worker keeps serving, an orphaned
 * PostgreSQL keeps the data directory.
 *
 * `cfp dev` tells the guardian on its stdin which process groups to stop, with which signal and grace:
 *
 *   watch <pid> <signal> <graceMs>     a child started
 *   forget <pid>                       it exited
 *   done                               cfp dev stopped everything itself: exit without acting
 *
 * When stdin ends without `done` (the pipe closes when `cfp dev` dies, however it dies), the guardian stops
 * the watched groups in reverse order of start (worker, runtime, then PostgreSQL), each with its signal, then
 * SIGKILL after its grace, and exits.
 *
 * @example
 * const guardian = Guardian.start()
 * guardian.watch(child.pid, 'SIGTERM', 10_000)
 * await guardian.release() // after a clean shutdown
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

interface Watched {
  pid: number
  signal: NodeJS.Signals
  graceMs: number
}

const SIGNALS = new Set(['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGKILL'])

/** The parent side: spawns the guardian and keeps it informed. Never keeps `cfp dev` alive. */
export class Guardian {
  private constructor(private readonly child: ChildProcess) {}

  /** Starts the guardian; undefined where it cannot run (Windows, no process groups). */
  static start(): Guardian | undefined {
    if (process.platform === 'win32') return undefined
    const main = fileURLToPath(new URL('./guardian-main.js', import.meta.url))
    const child = spawn(process.execPath, [main], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] })
    child.on('error', () => {}) // without a guardian, cfp dev still runs (and stops its children itself)
    child.stdin?.on('error', () => {})
    child.unref()
    ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
    return new Guardian(child)
  }

  private send(line: string): void {
    if (this.child.stdin?.writable) this.child.stdin.write(`${line}\n`)
  }

  watch(pid: number | undefined, signal: NodeJS.Signals, graceMs: number): void {
    if (pid !== undefined) this.send(`watch ${pid} ${signal} ${Math.round(graceMs)}`)
  }

  forget(pid: number | undefined): void {
    if (pid !== undefined) this.send(`forget ${pid}`)
  }

  /** Everything was stopped: the guardian exits without acting. Resolves once it has (1 s at most). */
  release(): Promise<void> {
    this.send('done')
    this.child.stdin?.end()
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 1_000)
      this.child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}

/** Running and not a zombie. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat[stat.lastIndexOf(')') + 2] !== 'Z'
  } catch {
    return true // no /proc (macOS): kill(0) said it exists
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // gone
    }
  }
}

async function stopOne(w: Watched): Promise<void> {
  if (!running(w.pid)) return
  signalGroup(w.pid, w.signal)
  const deadline = Date.now() + w.graceMs
  while (running(w.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  if (running(w.pid)) signalGroup(w.pid, 'SIGKILL')
}

/** The guardian side (guardian-main.js): reads the commands until stdin ends. */
export function runGuardian(input: NodeJS.ReadableStream = process.stdin): Promise<void> {
  const watched: Watched[] = []
  let released = false
  // a terminal's Ctrl-C or a hang-up of cfp dev's session is not for us
  for (const s of ['SIGINT', 'SIGHUP'] as const) process.on(s, () => {})
  return new Promise((resolveDone) => {
    const lines = createInterface({ input, crlfDelay: Infinity })
    lines.on('line', (line) => {
      const [cmd, pidText, signal, grace] = line.trim().split(/\s+/)
      const pid = Number(pidText)
      if (cmd === 'done') released = true
      else if (cmd === 'watch' && Number.isInteger(pid) && pid > 1 && signal && SIGNALS.has(signal)) {
        watched.push({ pid, signal: signal as NodeJS.Signals, graceMs: Math.min(Math.max(Number(grace) || 0, 0), 60_000) })
      } else if (cmd === 'forget') {
        const i = watched.findIndex((w) => w.pid === pid)
        if (i >= 0) watched.splice(i, 1)
      }
    })
    lines.on('close', () => {
      void (async () => {
        if (!released) for (const w of watched.reverse()) await stopOne(w)
        resolveDone()
      })()
    })
  })
}
