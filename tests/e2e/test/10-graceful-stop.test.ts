/**
 * Graceful stop: SIGINT (Ctrl-C) to `cfp dev` — here with its embedded PostgreSQL, so that all three kinds of
 * children exist — stops the worker, then the runtime, then PostgreSQL, leaves no process behind, removes
 * .cfp/dev.json and exits 0. A second `cfp dev` on the same project finds the data of the first (the database
 * was shut down cleanly) and stops the same way on SIGTERM.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DevServer, useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { isAlive, type ProcInfo } from '../src/procs.js'
import { waitFor } from '../src/util.js'

type Tracked = ProcInfo & { cmd: string }

function children(server: DevServer): { runtime: Tracked[]; worker: Tracked[]; postgres: Tracked[] } {
  server.proc.tree.scan()
  const alive = server.proc.tree.alive().filter((p) => p.pid !== server.proc.pid)
  return {
    runtime: alive.filter((p) => p.cmd.includes('cfp-runtime')),
    worker: alive.filter((p) => p.cmd.includes('worker/dist/main.js')),
    postgres: alive.filter((p) => p.comm === 'postgres' || /\bpostgres\b/.test(p.cmd.split(' ')[0] ?? '')),
  }
}

async function stopAndCheck(server: DevServer, signal: NodeJS.Signals): Promise<string> {
  const kids = await waitFor('runtime, worker and PostgreSQL processes', () => {
    const c = children(server)
    return c.runtime.length > 0 && c.worker.length > 0 && c.postgres.length > 0 && c
  })
  const before = server.proc.tree.alive().filter((p) => p.pid !== server.proc.pid)
  expect(before.length).toBeGreaterThanOrEqual(3)
  expect(existsSync(join(server.dir, '.cfp', 'dev.json'))).toBe(true)

  const mark = server.proc.lines.length
  server.proc.signal(signal)
  const exit = await server.proc.waitExit(60_000)
  expect(exit, 'cfp dev exited').toEqual({ code: 0, signal: null })

  // nothing is left: every process cfp dev started (and their children) is gone
  const left = before.filter(isAlive).map((p) => `${p.pid} ${p.cmd}`)
  expect(left).toEqual([])
  expect(kids.runtime.some(isAlive) || kids.worker.some(isAlive) || kids.postgres.some(isAlive)).toBe(false)
  expect(existsSync(join(server.dir, '.cfp', 'dev.json'))).toBe(false)

  const out = server.output(mark)
  expect(out).toContain(`${signal} received: stopping (worker, runtime, database)`)
  expect(out).not.toMatch(/did not stop in time and was killed/)
  expect(out).toMatch(/\[cfp\]\s+stopped$/m)
  // in order: the worker drains, then the runtime stops, then PostgreSQL shuts down
  const at = (re: RegExp) => server.proc.lines.findIndex((l, i) => i >= mark && re.test(l.text))
  const worker = at(/\[worker\].*cfp-worker: SIG\w+ received; draining/)
  const runtime = at(/\[runtime\].*cfp_runtime: stopped/)
  const postgres = at(/\[postgres\].*database system is shut down/)
  expect(worker).toBeGreaterThanOrEqual(0)
  expect(runtime).toBeGreaterThan(worker)
  expect(postgres).toBeGreaterThan(runtime)
  return out
}

describe('stopping cfp dev', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'minimal'), embedded: true, args: ['--no-types', '--verbose'] })

  it('SIGINT stops the worker, the runtime and PostgreSQL, leaves no process, exits 0', async () => {
    const res = await dev.server.fetch('/ping', { method: 'POST', json: { id: 'before-stop' } })
    expect(res.status).toBe(202)
    await waitFor('the event step to run', async () => (await dev.server.logs({ q: 'pong' })).some((l) => l.data?.id === 'before-stop'))

    await stopAndCheck(dev.server, 'SIGINT')
  })

  it('a second cfp dev finds the data of the first, and stops the same way on SIGTERM', async () => {
    const again = new DevServer(dev.server.dir, undefined, dev.server.opts)
    try {
      await again.start()
      const logs = await again.logs({ q: 'pong' })
      expect(logs.some((l) => l.data?.id === 'before-stop')).toBe(true)
      await stopAndCheck(again, 'SIGTERM')
    } finally {
      await again.stop()
    }
  })
})
