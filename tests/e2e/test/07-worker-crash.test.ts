/**
 * A worker SIGKILLed in the middle of handlers: `cfp dev` restarts it, every delivery that was running is
 * retried (attempt 2) on the new worker and completes, exactly once; the emits of the killed attempts were never
 * published, and nothing is lost. An API call in flight on the dead worker gets 503 worker_unavailable.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { isAlive, readProc } from '../src/procs.js'
import { sleep, waitFor } from '../src/util.js'

const JOBS = ['j1', 'j2', 'j3', 'j4']

describe('a worker killed mid-handler', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'crash') })

  it('retries the interrupted deliveries on the restarted worker; each completes once', async () => {
    for (const id of JOBS) await dev.server.emit('job.run', { id })

    // every job's first attempt is running (it sleeps 8 s) in the same worker process
    const pids = await waitFor('all jobs to start', async () => {
      const found = await Promise.all(JOBS.map((id) => dev.db.state<number>('job-pids', id)))
      return found.every((p) => typeof p === 'number') && (found as number[])
    })
    const pid = pids[0] as number
    expect(new Set(pids)).toEqual(new Set([pid]))
    for (const id of JOBS) expect(await dev.db.state('job-attempts', id)).toBe(1)
    const worker = readProc(pid)
    expect(worker, 'the worker process').toBeDefined()
    expect(dev.server.proc.tree.known.has(pid)).toBe(true) // a child of this cfp dev

    // an API call in flight on that worker too
    const mark = dev.server.proc.lines.length
    const apiCall = dev.server.fetch('/slow?ms=8000', { timeoutMs: 20_000 })
    await dev.server.proc.waitForLine(/\[SlowApi\] slow api started/, 10_000, mark)

    process.kill(pid, 'SIGKILL')
    await dev.server.proc.waitForLine(/the worker exited \(signal SIGKILL\); restarting it/, 10_000, mark)
    expect(isAlive(worker as NonNullable<typeof worker>)).toBe(false)
    // the API call in flight is answered 503 worker_unavailable at once, not left to time out
    const api = await apiCall
    expect(api.status).toBe(503)
    expect(api.json.error.code).toBe('worker_unavailable')

    // the second attempts run on a new worker and finish
    const finished = await waitFor(
      'every job to finish',
      async () => {
        const rows = await dev.db.stateGroup<{ id: string }>('job-finished')
        return JOBS.every((id) => rows.some(([, v]) => v.id === id)) && rows
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    )
    await sleep(500) // a duplicate would show up by now
    for (const id of JOBS) {
      expect(await dev.db.state('job-attempts', id)).toBe(2)
      const newPid = await dev.db.state<number>('job-pids', id)
      expect(newPid).not.toBe(pid)
      // one completed run, the second attempt
      const runs = (await dev.db.stateGroup<{ id: string; attempts: number }>('job-runs')).filter(([, v]) => v.id === id)
      expect(runs.map(([, v]) => v.attempts)).toEqual([2])
    }
    // the follow-up step ran once per job
    const all = await dev.db.stateGroup<{ id: string }>('job-finished')
    expect(all.map(([, v]) => v.id).sort()).toEqual(JOBS)
    expect(finished.length).toBe(JOBS.length)

    // the queue: each job's delivery done on attempt 2, each follow-up done on attempt 1
    const rows = await dev.db.query<{ step: string; status: number; attempt: number }>(`SELECT step, status, attempt FROM cfp_runtime.queue ORDER BY step, seq`)
    expect(rows.filter((r) => r.step === 'SlowJob')).toEqual(JOBS.map(() => ({ step: 'SlowJob', status: 2, attempt: 2 })))
    expect(rows.filter((r) => r.step === 'JobFinished')).toEqual(JOBS.map(() => ({ step: 'JobFinished', status: 2, attempt: 1 })))
    // the API step is served again by the new worker
    expect((await dev.server.fetch('/slow?ms=0')).json).toEqual({ slept: 0 })
    // and the runtime said why the first attempts failed
    const disconnected = (l: { msg: string }) => /^attempt 1\/4 of step `SlowJob` failed: the worker running this step disconnected/.test(l.msg)
    const logs = await waitFor('the runtime log lines of the lost attempts', async () => {
      const lines = await dev.server.logs({ step: 'SlowJob', level: 'warn' })
      return lines.filter(disconnected).length >= JOBS.length && lines
    })
    expect(logs.filter(disconnected)).toHaveLength(JOBS.length)
  })
})
