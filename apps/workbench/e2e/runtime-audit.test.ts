/**
 * Issue 10 under `cfp dev` alone (no control plane): state written and deleted and an event emitted through the
 * runtime API show up on the workbench's Audit page at 375 px, each entry's proof checked in the browser (leaf
 * hash, inclusion proof to the root, the checkpoint's signature by the runtime's audit key); a leaf altered on its way to the
 * browser is refused by the same check; the export command names the runtime's chain; the operator verifies every
 * chain from the page.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fits375 } from './admin-pages'
import { APP_DIR, createDatabase, type DevServer, launchBrowser, openPage, startDevServer, type TestDatabase, type TestPage } from './harness'

let db: TestDatabase
let server: DevServer
let browser: Browser
let tab: TestPage | undefined

beforeAll(async () => {
  // a checkpoint every second (the runtime's default is 60 s), so that the opened entries' checkpoints are signed
  process.env.CFP_AUDIT_CHECKPOINT_INTERVAL_S = '1'
  db = await createDatabase()
  server = await startDevServer({ project: join(APP_DIR, 'e2e/fixtures/dlq'), name: 'audit-dev', databaseUrl: db.url, expectSteps: ['StartJob', 'RunJob'] })
  browser = await launchBrowser()
})

afterAll(async () => {
  await tab?.close()
  await browser?.close()
  await server?.stop()
  await db?.drop()
  if (server) rmSync(server.projectDir, { recursive: true, force: true })
})

const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** Searches until an entry of `kind` is listed (the sequencer moves queued entries into the chain within moments). */
async function listed(page: Page, kind: string): Promise<void> {
  await expect
    .poll(
      async () => {
        await page.getByRole('button', { name: 'Search', exact: true }).click()
        await page.waitForFunction(() => !document.querySelector('.loading'))
        return page.locator('table[aria-label="Audit entries"] td', { hasText: kind }).count()
      },
      { timeout: 20_000 },
    )
    .toBeGreaterThan(0)
}

async function openEntry(page: Page, kind: string): Promise<void> {
  await page.locator('table[aria-label="Audit entries"] tr', { hasText: kind }).first().getByRole('button').click()
}

describe('the Audit page under cfp dev', () => {
  it('lists state writes, deletes and emits made through the API, each with its proof checked in the browser', async () => {
    await server.api('/__cfp/api/state/audited/k1', json('PUT', { v: 1 }))
    await server.api('/__cfp/api/state/audited/k1', { method: 'DELETE' })
    await server.api('/__cfp/api/emit', json('POST', { topic: 'job.requested', data: { id: 'audited' } }))

    tab = await openPage(browser, 'phone')
    const { page } = tab
    await page.goto(`${server.appUrl}audit`)
    await page.locator('h1', { hasText: 'Audit log' }).waitFor()
    await listed(page, 'state.write')
    for (const kind of ['state.delete', 'event.emit']) {
      expect(await page.locator('table[aria-label="Audit entries"] td', { hasText: kind }).count(), kind).toBeGreaterThan(0)
    }
    await fits375(page, 'audit log')

    for (const kind of ['state.write', 'event.emit']) {
      // opened until a signed checkpoint covers the entry (within a few seconds), then all three checks show
      await expect
        .poll(
          async () => {
            await openEntry(page, kind)
            await page.locator('[data-proof="ok"]').waitFor({ timeout: 15_000 })
            const text = (await page.locator('[data-proof]').textContent()) ?? ''
            if (!text.includes('signed by')) await page.getByRole('button', { name: 'Close', exact: true }).click()
            return text
          },
          { timeout: 20_000, interval: 1_000 },
        )
        .toMatch(/inclusion proof leads to the root of the tree of \d+ entries, and that root is signed by cfp-audit-runtime-/)
      // the entry's heading: kind · chain #seq, in the runtime's chain of the local tenant
      await page.getByRole('heading', { name: new RegExp(`^${kind.replace('.', '\\.')} · runtime:[^ ]+ #\\d+$`) }).waitFor()
      await fits375(page, `audit entry ${kind}`)
      await page.getByRole('button', { name: 'Close', exact: true }).click()
    }
    // the chain's last checkpoint
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    await expect
      .poll(() => page.locator('[data-chain-status]').textContent(), { timeout: 10_000 })
      .toMatch(/Chain runtime:\S+: last signed checkpoint at \d+ entries/)

    // the operator verifies every chain of the runtime now: the run and its count show, and it is itself recorded
    const health = page.locator('[data-audit-health]')
    await health.getByRole('button', { name: 'Verify all chains now' }).click()
    await expect.poll(() => health.textContent(), { timeout: 15_000 }).toMatch(/Last verification .+: \d+ chains, [\d,]+ entries intact\. Anchoring is off/)
    await fits375(page, 'audit health')

    // the export command names the runtime's own chain's tenant, never a placeholder
    const command = (await page.locator('pre.code-block').textContent()) ?? ''
    expect(command).toMatch(/^cfp audit export --database-url "\$DATABASE_URL" --tenant [A-Za-z0-9._-]+ --out audit\.cfpaudit$/)
    expect(command).not.toContain('<tenant id>')
    expect(tab.errors).toEqual([])
  })

  it('refuses an entry whose leaf was altered on its way to the browser', async () => {
    const t = await openPage(browser, 'desktop')
    try {
      const { page } = t
      await page.route(/\/__cfp\/api\/audit\/entries\/[^/?]+\/\d+/, async (route) => {
        const res = await route.fetch()
        const body = (await res.json()) as { leaf: string }
        body.leaf = body.leaf.replace('"state.write"', '"state.delete"')
        await route.fulfill({ response: res, json: body })
      })
      await page.goto(`${server.appUrl}audit`)
      await page.getByLabel('Kind').fill('state.write')
      await listed(page, 'state.write')
      await openEntry(page, 'state.write')
      await page.locator('[data-proof="bad"]').waitFor({ timeout: 15_000 })
      expect(await page.locator('[data-proof="bad"]').textContent()).toContain('does not hash to its leaf hash')
    } finally {
      await t.close()
    }
  })
})
