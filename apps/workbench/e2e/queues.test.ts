/**
 * Dead-letter handling from the Queues page, against a real `cfp dev` running the fixture in
 * e2e/fixtures/dlq: RunJob fails (no retries) until POST /gate opens the gate, so its events land in the
 * dead-letter queue; one is discarded, the other replayed once the gate is open and then succeeds.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  APP_DIR,
  createDatabase,
  type DevServer,
  horizontalOverflow,
  launchBrowser,
  openPage,
  screenshot,
  startDevServer,
  type TestDatabase,
  waitFor,
} from './harness'

let db: TestDatabase
let server: DevServer
let browser: Browser

interface DeadLetter {
  id: number
  step: string
  data: { id: string }
}

beforeAll(async () => {
  db = await createDatabase()
  server = await startDevServer({
    project: join(APP_DIR, 'e2e/fixtures/dlq'),
    name: 'dlq',
    databaseUrl: db.url,
    expectSteps: ['StartJob', 'RunJob', 'OpenGate'],
  })
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await db?.drop()
  if (server) rmSync(server.projectDir, { recursive: true, force: true })
})

const post = (path: string, body: unknown) => server.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('Queues page', () => {
  it('discards one dead letter and replays another, which then succeeds', async () => {
    await post('/jobs', { id: 'job-discard' })
    await post('/jobs', { id: 'job-replay' })
    const dead = await waitFor('both jobs in the dead-letter queue', async () => {
      const { items } = await server.api<{ items: DeadLetter[] }>('/__cfp/api/dlq')
      return items.length === 2 ? items : undefined
    })
    const byJob = Object.fromEntries(dead.map((d) => [d.data.id, d]))

    const t = await openPage(browser, 'desktop')
    try {
      const { page } = t
      await page.goto(`${server.appUrl}queues`)
      const items = page.getByTestId('dlq-item')
      await expect.poll(() => items.count(), { timeout: 10_000 }).toBe(2)
      await expect.poll(() => page.locator('[data-testid="queue-row"][data-step="RunJob"] td').last().textContent(), { timeout: 10_000 }).toBe('2')
      expect(await items.first().innerText()).toContain('gate closed')
      await screenshot(page, 'queues-dlq-desktop-light')

      // the same list on a phone, dark: cards, no sideways scrolling
      const phone = await openPage(browser, 'phone', { colorScheme: 'dark' })
      try {
        await phone.page.goto(`${server.appUrl}queues`)
        await expect.poll(() => phone.page.getByTestId('dlq-item').count(), { timeout: 10_000 }).toBe(2)
        const o = await horizontalOverflow(phone.page)
        expect(o.scrollWidth, o.culprits.join(', ')).toBeLessThanOrEqual(o.innerWidth)
        await screenshot(phone.page, 'queues-dlq-phone-dark')
        expect(phone.errors).toEqual([])
      } finally {
        await phone.close()
      }

      // discard: confirm dialog, then the item is gone
      const discardItem = items.filter({ hasText: `#${byJob['job-discard']!.id}` })
      await discardItem.getByRole('button', { name: 'Discard' }).click()
      const dialog = page.getByRole('dialog')
      await dialog.waitFor()
      expect(await dialog.innerText()).toContain('cannot be undone')
      await dialog.getByRole('button', { name: 'Discard' }).click()
      await page.getByText(`Dead letter #${byJob['job-discard']!.id} was discarded.`).waitFor()
      await expect.poll(() => items.count(), { timeout: 10_000 }).toBe(1)

      // cancel leaves everything as it was
      await items.first().getByRole('button', { name: 'Replay' }).click()
      await dialog.getByRole('button', { name: 'Cancel' }).click()
      await dialog.waitFor({ state: 'hidden' })
      expect(await items.count()).toBe(1)

      // open the gate, replay: the job runs and the queue is empty
      await post('/gate', {})
      await items.first().getByRole('button', { name: 'Replay' }).click()
      await dialog.getByRole('button', { name: 'Replay' }).click()
      await page.getByText(`Dead letter #${byJob['job-replay']!.id} is back in RunJob's queue.`).waitFor()
      await page.getByTestId('dlq-empty').waitFor({ timeout: 10_000 })
      await waitFor(
        'the replayed job to finish',
        async () => (await server.api<{ logs: unknown[] }>('/__cfp/api/logs?q=job%20finished')).logs.length > 0,
        20_000,
      )
      await expect.poll(() => page.locator('[data-testid="queue-row"][data-step="RunJob"] td').last().textContent(), { timeout: 10_000 }).toBe('0')
      const o = await horizontalOverflow(page)
      expect(o.scrollWidth).toBeLessThanOrEqual(o.innerWidth)
      expect(t.errors).toEqual([])
    } finally {
      await t.close()
    }
  })

  it('shows the item the replayed job wrote to a stream, on the Streams page', async () => {
    // runs after the replay above: RunJob wrote jobs/finished/job-replay
    await waitFor('the stream item', async () => {
      const { items } = await server.api<{ items: Array<{ id: string }> }>('/__cfp/api/streams/jobs/finished')
      return items.some((i) => i.id === 'job-replay')
    })
    for (const viewport of ['desktop', 'phone'] as const) {
      const t = await openPage(browser, viewport)
      try {
        await t.page.goto(`${server.appUrl}streams`)
        await t.page.getByRole('button', { name: /finished/ }).waitFor()
        await t.page.getByRole('heading', { name: 'job-replay' }).waitFor()
        const o = await horizontalOverflow(t.page)
        expect(o.scrollWidth, o.culprits.join(', ')).toBeLessThanOrEqual(o.innerWidth)
        await screenshot(t.page, `streams-items-${viewport}-light`)
        expect(t.errors).toEqual([])
      } finally {
        await t.close()
      }
    }
  })
})
