/**
 * FIFO queues: 3 message groups × 20 messages, emitted quickly to a `fifo` step with concurrency 10 whose
 * handler sleeps a few random ms and appends (group, n, start, end) to a file. Every message is delivered once,
 * strictly in order within its group (message n+1 starts only after message n finished), and the groups run
 * in parallel (their handlers overlap in time).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { waitFor } from '../src/util.js'

interface Run {
  group: string
  n: number
  start: number
  end: number
  key: string
}

const GROUPS = ['g1', 'g2', 'g3']
const PER_GROUP = 20

describe('FIFO delivery per message group', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'fifo') })

  it('delivers 3 × 20 messages once each, in order per group, groups in parallel', async () => {
    const file = join(dev.server.dir, '.cfp', 'fifo.jsonl')
    const started = Date.now()
    // each group publishes its messages in order; the three groups publish at the same time
    await Promise.all(
      GROUPS.map(async (group) => {
        for (let n = 0; n < PER_GROUP; n++) await dev.server.emit('fifo.msg', { group, n }, group)
      }),
    )
    const published = Date.now() - started

    const runs = await waitFor(
      'all 60 deliveries',
      () => {
        if (!existsSync(file)) return undefined
        const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean)
        return lines.length >= GROUPS.length * PER_GROUP && lines.map((l) => JSON.parse(l) as Run)
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    )
    const took = Date.now() - started
    console.log(`fifo: published 60 messages in ${published} ms; all delivered after ${took} ms`)

    // exactly once each
    expect(runs).toHaveLength(GROUPS.length * PER_GROUP)
    expect(new Set(runs.map((r) => r.key)).size).toBe(runs.length)

    for (const group of GROUPS) {
      const mine = runs.filter((r) => r.group === group)
      // in the order of the file (append order) and by start time: 0, 1, …, 19
      expect(mine.map((r) => r.n)).toEqual([...Array(PER_GROUP).keys()])
      const byStart = [...mine].sort((x, y) => x.start - y.start)
      expect(byStart.map((r) => r.n)).toEqual([...Array(PER_GROUP).keys()])
      // strictly sequential: the next message of a group starts after the previous one finished
      for (let i = 1; i < byStart.length; i++) {
        expect((byStart[i] as Run).start).toBeGreaterThanOrEqual((byStart[i - 1] as Run).end)
      }
    }

    // groups overlapped: some handler of one group ran while a handler of another group ran
    let overlaps = 0
    for (const a of runs) {
      for (const b of runs) {
        if (a.group < b.group && a.start < b.end && b.start < a.end) overlaps++
      }
    }
    expect(overlaps).toBeGreaterThan(0)
    // and the groups' spans overlap as a whole: each group was still running when the others started
    const span = (g: string) => {
      const mine = runs.filter((r) => r.group === g)
      return [Math.min(...mine.map((r) => r.start)), Math.max(...mine.map((r) => r.end))] as const
    }
    for (const g of GROUPS) for (const h of GROUPS) if (g !== h) expect(span(g)[0]).toBeLessThan(span(h)[1])

    // the queue agrees: 60 rows done, one attempt each
    const rows = await dev.db.query<{ status: number; attempt: number; group_id: string }>(
      `SELECT status, attempt, group_id FROM cfp_runtime.queue WHERE step = 'Ordered'`,
    )
    expect(rows).toHaveLength(60)
    expect(rows.every((r) => r.status === 2 && r.attempt === 1)).toBe(true)
  })

  // Regression: the completer must wake the step after committing, or a queued group advances at the poll rate.
  it('drains a backlog of one group without waiting for the poll interval', async () => {
    const file = join(dev.server.dir, '.cfp', 'fifo.jsonl')
    const res = await dev.server.fetch('/burst', { method: 'POST', json: { group: 'backlog', count: 20 } })
    expect(res.status).toBe(202)
    const started = Date.now()
    const runs = await waitFor(
      'the 20 queued messages of one group',
      () => {
        const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean)
        const mine = lines.map((l) => JSON.parse(l) as Run).filter((r) => r.group === 'backlog')
        return mine.length === 20 && mine
      },
      { timeoutMs: 5_000, intervalMs: 100 },
    )
    console.log(`fifo: a backlog of 20 messages drained in ${Date.now() - started} ms`)
    expect(runs.map((r) => r.n)).toEqual([...Array(20).keys()])
  })
})
