/**
 * Attack test (issue 8 item 7, `cfp dev` side): `cfp dev` killed with SIGKILL must not leave its runtime and
 * worker running (an orphaned runtime keeps the port and the database; an orphaned worker keeps serving).
 * A real `cfp dev` process with the stand-in runtime and worker of fake-processes.ts.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { findFreePort } from '../dev/ports.js'
import { writeFakeBins } from '../test-support/fake-processes.js'

const CLI_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'main.js')

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0)
  } catch {
    return []
  }
}

/** Running (a zombie waiting for PID 1 to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (pred()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return pred()
}

describe('cfp dev killed with SIGKILL', () => {
  const cleanup: Array<() => void> = []
  afterEach(() => {
    for (const f of cleanup.splice(0)) f()
  })

  it('stops its runtime and worker within 3 s, in order (worker first)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cfp-dev-kill-'))
    const project = join(root, 'project')
    mkdirSync(join(project, 'steps'), { recursive: true })
    const bins = writeFakeBins(join(root, 'bin'))
    const port = await findFreePort()
    const cfp: ChildProcess = spawn(process.execPath, [CLI_MAIN, 'dev', '--dir', project, '--port', String(port), '--no-types'], {
      env: {
        ...process.env,
        CFP_RUNTIME_BIN: bins.runtime,
        CFP_WORKER_MAIN: bins.worker,
        DATABASE_URL: 'postgres://user:secret@127.0.0.1:5/db',
        FAKE_LOG: bins.log,
      },
      stdio: 'ignore',
    })
    let children: number[] = []
    cleanup.push(() => {
      for (const pid of [cfp.pid ?? 0, ...children]) if (pid && alive(pid)) process.kill(pid, 'SIGKILL')
      rmSync(root, { recursive: true, force: true })
    })
    expect(await until(() => bins.lines().some((l) => l.startsWith('worker:start')), 15_000)).toBe(true)
    children = childrenOf(cfp.pid!)
    expect(children.length).toBeGreaterThanOrEqual(2) // runtime, worker (and the guardian, once there is one)

    cfp.kill('SIGKILL')
    await until(() => children.every((pid) => !alive(pid)), 3_000)
    expect(children.filter(alive)).toEqual([])
    const stops = bins.lines().filter((l) => l.endsWith(':sigterm'))
    expect(stops).toEqual(['worker:sigterm', 'runtime:sigterm'])
  })
})
