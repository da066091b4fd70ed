/**
 * Retries and the dead-letter queue, through the `cfp` CLI: a step with maxRetries 2 that throws runs exactly
 * 3 times, then `cfp dlq list --json` shows it; after a state flag the handler reads is flipped, `cfp dlq replay`
 * runs it again successfully and it leaves the DLQ; `cfp dlq discard` removes another entry for good.
 * CFP_RETRY_BASE_MS=50 (environment of cfp dev, passed on to the runtime) keeps the backoff short.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { sleep, waitFor } from '../src/util.js'

interface DlqEntry {
  id: number
  step: string
  topic: string
  data: { id: string }
  attempts: number
  error: { message: string; attempt: number }
}

describe('retries, then the dead-letter queue (cfp emit, cfp dlq list/replay/discard)', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'retries'), env: { CFP_RETRY_BASE_MS: '50' } })

  async function dlqList(): Promise<DlqEntry[]> {
    const res = await dev.server.cli(['dlq', 'list', '--json'])
    expect(res.code, res.stderr).toBe(0)
    return JSON.parse(res.stdout) as DlqEntry[]
  }

  let entries: DlqEntry[] = []

  it('runs a throwing step maxRetries + 1 = 3 times, then dead-letters it', async () => {
    for (const id of ['a', 'b']) {
      const res = await dev.server.cli(['emit', '--topic', 'flaky.run', '--data', JSON.stringify({ id })])
      expect(res.code, res.stderr).toBe(0)
      expect(JSON.parse(res.stdout)).toMatchObject({ eventId: expect.any(String), traceId: expect.any(String) })
    }
    entries = await waitFor(
      'two dead letters',
      async () => {
        const list = await dlqList()
        return list.length === 2 && list
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    )
    for (const id of ['a', 'b']) {
      const entry = entries.find((e) => e.data.id === id) as DlqEntry
      expect(entry).toMatchObject({ step: 'Flaky', topic: 'flaky.run', attempts: 3 })
      expect(entry.error.message).toBe(`flaky ${id} failing (attempt 3)`)
    }
    // no fourth attempt, even a little later
    await sleep(500)
    expect(await dev.db.state('attempts', 'a')).toBe(3)
    expect(await dev.db.state('attempts', 'b')).toBe(3)

    // the runtime logged each failed attempt and the move to the DLQ under the event's trace
    const traceId = (await dev.server.fetch('/__cfp/api/dlq')).json.items.find((e: { data: { id: string } }) => e.data.id === 'a').traceId
    // log lines are written in batches after the dead letter commits: wait for the last one
    const logs = await waitFor('the dead-letter log line', async () => {
      const lines = await dev.server.logs({ traceId, step: 'Flaky' })
      return lines.some((l) => /moved to the dead-letter queue/.test(l.msg)) && lines
    })
    const messages = logs.map((l) => l.msg)
    expect(messages.filter((m) => /^attempt \d\/3 of step `Flaky` failed/.test(m))).toHaveLength(2)
    expect(messages.filter((m) => /moved to the dead-letter queue/.test(m))).toHaveLength(1)
    const attempts = logs.filter((l) => l.msg === 'flaky attempt')
    expect(attempts.map((l) => l.data.attempts)).toEqual([1, 2, 3])
    // CFP_RETRY_BASE_MS reached the runtime: with a 50 ms base both retries come well within a second (the
    // default 1 s base waits at least 0.5 s + 1 s)
    expect((attempts[2]?.tsMs ?? 0) - (attempts[0]?.tsMs ?? 0)).toBeLessThan(1_000)

    // the table form names the entries too
    const table = await dev.server.cli(['dlq', 'list'])
    expect(table.code).toBe(0)
    for (const e of entries) expect(table.stdout).toContain(String(e.id))
  })

  // Regression: the CLI once read `failedAt` while the runtime sends `failedAtMs`.
  it('cfp dlq list shows when each entry failed', async () => {
    const table = await dev.server.cli(['dlq', 'list'])
    expect(table.code).toBe(0)
    const rows = table.stdout.split('\n').filter((l) => /\bFlaky\b/.test(l))
    expect(rows).toHaveLength(2)
    for (const row of rows) expect(row).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z/)
  })

  it('replays an entry once the handler can succeed: it runs again and leaves the DLQ', async () => {
    const a = entries.find((e) => e.data.id === 'a') as DlqEntry
    const flag = await dev.server.fetch('/flags/healthy', { method: 'PUT', json: { value: true } })
    expect(flag.status).toBe(200)

    const res = await dev.server.cli(['dlq', 'replay', String(a.id)])
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toContain(`Replayed dead-letter entry ${a.id}`)

    const done = await waitFor('the replayed delivery to succeed', () => dev.db.state<{ attempts: number; idempotencyKey: string }>('succeeded', 'a'))
    expect(done.attempts).toBe(4)
    expect(done.idempotencyKey).toMatch(/^Flaky:[0-9a-f-]{36}$/)
    const left = await dlqList()
    expect(left.map((e) => e.data.id)).toEqual(['b'])
    // replaying it again is an error: it is no longer in the DLQ
    const again = await dev.server.cli(['dlq', 'replay', String(a.id)])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/no dead letter with id/)
  })

  it('discards an entry: it leaves the DLQ and never runs again', async () => {
    const b = entries.find((e) => e.data.id === 'b') as DlqEntry
    const res = await dev.server.cli(['dlq', 'discard', String(b.id)])
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toContain(`Discarded dead-letter entry ${b.id}`)
    expect(await dlqList()).toEqual([])
    const empty = await dev.server.cli(['dlq', 'list'])
    expect(empty.stdout).toContain('The dead-letter queue is empty.')
    await sleep(500)
    expect(await dev.db.state('attempts', 'b')).toBe(3)
    expect(await dev.db.state('succeeded', 'b')).toBeUndefined()
  })
})
