/**
 * Cron: a step with the 6-field expression `* * * * * *` (every second) runs at least 3 times in ~4 s, once per
 * tick: every scheduled tick (the `scheduledAt` of its queue row) is distinct and on a whole second, and each
 * execution has its own idempotency key.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { sleep } from '../src/util.js'

interface Tick {
  idempotencyKey: string
  traceId: string
  at: number
}

describe('cron steps', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'cron') })

  it('runs an every-second cron step at least 3 times in ~4 s, once per scheduled tick', async () => {
    const from = Date.now()
    await sleep(4_200)
    const to = Date.now()

    const executions = (await dev.db.stateGroup<Tick>('ticks')).map(([, v]) => v)
    const inWindow = executions.filter((t) => t.at >= from && t.at <= to)
    expect(inWindow.length).toBeGreaterThanOrEqual(3)
    expect(inWindow.length).toBeLessThanOrEqual(6)

    const rows = await dev.db.query<{ event_id: string; scheduled_at: string; status: number; attempt: number; trace_id: string }>(
      `SELECT event_id::text, data->>'scheduledAt' AS scheduled_at, status, attempt, trace_id
         FROM cfp_runtime.queue WHERE step = 'Ticker' ORDER BY seq`,
    )
    const done = rows.filter((r) => r.status === 2)
    expect(done.length).toBeGreaterThanOrEqual(3)
    // no duplicate tick, each on a whole second, consecutive ticks one second apart
    const ticks = done.map((r) => Date.parse(r.scheduled_at))
    expect(new Set(ticks).size).toBe(ticks.length)
    for (const t of ticks) expect(t % 1000).toBe(0)
    const sorted = [...ticks].sort((a, b) => a - b)
    for (let i = 1; i < sorted.length; i++) expect((sorted[i] as number) - (sorted[i - 1] as number)).toBe(1000)
    expect(done.every((r) => r.attempt === 1)).toBe(true)

    // one execution per tick: every done row (each tick has its own trace) ran exactly once, under a key of its own
    const settled = (await dev.db.stateGroup<Tick>('ticks')).map(([, v]) => v)
    const keys = settled.map((t) => t.idempotencyKey)
    expect(new Set(keys).size).toBe(keys.length)
    for (const key of keys) expect(key).toMatch(/^Ticker:/)
    expect(new Set(done.map((r) => r.trace_id)).size).toBe(done.length)
    for (const row of done) expect(settled.filter((t) => t.traceId === row.trace_id)).toHaveLength(1)
  })
})
