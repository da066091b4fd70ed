/**
 * The Metrics page against a real `cfp dev` running e2e/fixtures/slo, whose step Charge has `config.slo`
 * (90 % ok over a day, at least 5 attempts for an alert). The runtime's evaluator runs every second with one
 * burn rule (`--slo-policy` through CFP_SLO_POLICY): burn > 2× over 3 and 2 minutes, firing after 3 s. So the
 * issue's "done when" takes seconds, not the workbook's minutes: drive failures → the budget burns and the
 * alert goes pending → firing on the page; drive successes → it resolves. Every transition is delivered to a
 * webhook receiver in this test (`CFP_ALERT_WEBHOOK_URL`, a loopback server that answers its first two requests
 * with 500): the page lists each transition's delivery — the pending one retrying with its attempts and error,
 * then all three delivered. Then the page at 375 px.
 */
import { createHmac } from 'node:crypto'
import { rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP_DIR, createDatabase, type DevServer, launchBrowser, openPage, screenshot, startDevServer, type TestDatabase, waitFor } from './harness'
import { fits375 } from './admin-pages'

const POLICY = {
  intervalSeconds: 1,
  minEvents: 5,
  // windows of whole minute buckets: the short one (the current and the previous minute) holds the failures
  // for at least a minute whatever the second they happen at
  rules: [{ name: 'page-fast', severity: 'page', longSecs: 180, shortSecs: 120, factor: 2, forSecs: 3 }],
}

const SECRET = 'e2e-webhook-secret-0123456789'

/** The alert webhook receiver: checks the signature, answers 500 to its first two requests, then 200. */
interface Receiver {
  server: Server
  url: string
  /** Every request: the transition's state, whether its signature verified, the status answered. */
  got: Array<{ state: string; signed: boolean; status: number }>
}

async function startReceiver(): Promise<Receiver> {
  const got: Receiver['got'] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const { t, v1 } = Object.fromEntries(
        String(req.headers['x-cfp-signature'] ?? '')
          .split(',')
          .map((p) => p.split('=')),
      )
      const want = createHmac('sha256', SECRET).update(`${t}.${raw}`).digest('hex')
      let state = '?'
      try {
        state = String((JSON.parse(raw) as { state?: unknown }).state)
      } catch {}
      const status = got.length < 2 ? 500 : 200
      got.push({ state, signed: v1 === want, status })
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'not now')
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got }
}

let db: TestDatabase
let server: DevServer
let browser: Browser
let receiver: Receiver

beforeAll(async () => {
  db = await createDatabase()
  receiver = await startReceiver()
  server = await startDevServer({
    project: join(APP_DIR, 'e2e/fixtures/slo'),
    name: 'slo',
    databaseUrl: db.url,
    expectSteps: ['Charge'],
    env: { CFP_SLO_POLICY: JSON.stringify(POLICY), CFP_ALERT_WEBHOOK_URL: receiver.url, CFP_ALERT_WEBHOOK_SECRET: SECRET },
  })
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await db?.drop()
  await new Promise((ok) => receiver?.server.close(ok))
  if (server) rmSync(server.projectDir, { recursive: true, force: true })
})

const emit = (data: unknown) =>
  server.api('/__cfp/api/emit', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'charge.requested', data }) })

/** Emits `n` events and waits until the rollups count them all (the page reads the rollups). */
async function drive(n: number, data: unknown, expectTotal: number) {
  for (let i = 0; i < n; i++) await emit(data)
  await waitFor(`${expectTotal} attempts rolled up`, async () => {
    const { rollups } = await server.api<{ rollups: Array<{ total: number }> }>('/__cfp/api/rollups?step=Charge&granularity=minute')
    return rollups.reduce((s, r) => s + r.total, 0) >= expectTotal
  })
}

describe('Metrics page', () => {
  it('shows the budget burn and an alert go pending → firing → resolved', async () => {
    const t = await openPage(browser, 'desktop')
    try {
      const { page } = t
      await page.goto(`${server.appUrl}metrics/Charge?window=1h`)
      const card = page.locator('[data-testid="slo-card"][data-step="Charge"]')
      const errorsBudget = card.locator('[data-sli="errors"] [data-testid="budget"]')
      await expect.poll(() => errorsBudget.textContent()).toBe('Budget 100 % left')
      await expect.poll(() => card.locator('[data-testid="open-alert"][data-sli="errors"]').count()).toBe(0)

      // a few good, fast attempts, then failures: 10 bad of 14 is a 7× burn (budget 10 %)
      await drive(4, { ms: 5 }, 4)
      await drive(10, { fail: true }, 14)
      // the pending transition's webhook delivery: refused twice by the receiver, so retrying with its error
      const pendingStep = page.locator('[data-testid="alert"][data-rule="page-fast"][data-sli="errors"] li[data-state="pending"]').first()
      const pendingHook = pendingStep.locator('[data-testid="delivery"][data-target="webhook"]')
      await expect.poll(() => pendingHook.getAttribute('data-status'), { timeout: 20_000 }).toBe('retrying')
      expect(await page.getByTestId('alert-targets').getAttribute('data-targets')).toBe('webhook')
      const retrying = await pendingHook.textContent()
      expect(retrying).toContain('Webhook')
      expect(retrying).toMatch(/\d attempts? · next attempt .* · last error: the target answered 500/)
      await expect.poll(() => errorsBudget.textContent(), { timeout: 15_000 }).toMatch(/^Budget overspent/)
      await expect.poll(() => page.getByTestId('stat-error-rate').textContent(), { timeout: 20_000 }).toBe('71.4 %')
      const firing = card.locator('[data-testid="open-alert"][data-state="firing"][data-rule="page-fast"][data-sli="errors"]')
      await expect.poll(() => firing.count(), { timeout: 20_000 }).toBe(1)
      const history = page.locator('[data-testid="alert"][data-rule="page-fast"][data-sli="errors"]').first()
      expect(await history.locator('li[data-state]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))).toEqual(['pending', 'firing'])
      const burn = Number(await card.locator('[data-sli="errors"] [data-testid="burn"][data-window="120"]').getAttribute('data-rate'))
      expect(burn).toBeGreaterThan(2)
      await screenshot(page, 'metrics-firing-desktop-light')

      // recovery: 10 bad of 64 is 1.6×, under the rule's 2×
      await drive(50, { ms: 5 }, 64)
      await expect
        .poll(() => page.locator('[data-testid="alert"][data-state="resolved"][data-rule="page-fast"][data-sli="errors"]').count(), { timeout: 20_000 })
        .toBe(1)
      await expect.poll(() => card.locator('[data-testid="open-alert"][data-sli="errors"]').count()).toBe(0)
      expect(await history.locator('li[data-state]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))).toEqual([
        'pending',
        'firing',
        'resolved',
      ])

      // every transition reaches the receiver, in order, signed; the page shows each one delivered
      const hooks = history.locator('li[data-state] [data-testid="delivery"][data-target="webhook"]')
      await expect
        .poll(() => hooks.evaluateAll((els) => els.map((e) => e.getAttribute('data-status'))), { timeout: 60_000 })
        .toEqual(['delivered', 'delivered', 'delivered'])
      expect(await hooks.first().getAttribute('data-attempts')).toBe('3')
      expect(await hooks.first().textContent()).not.toContain('last error')
      expect(receiver.got.filter((g) => g.status === 200).map((g) => g.state)).toEqual(['pending', 'firing', 'resolved'])
      expect(receiver.got.map((g) => g.state).slice(0, 2)).toEqual(['pending', 'pending'])
      expect(receiver.got.every((g) => g.signed)).toBe(true)

      // the charts have points; the project page lists the step with its budget
      expect(await page.getByTestId('chart-latency').locator('path[d^="M"]').count()).toBeGreaterThan(0)
      await page.getByTestId('window-24h').click()
      await expect.poll(() => page.url()).toContain('window=24h')
      await page.goto(`${server.appUrl}metrics`)
      const row = page.locator('[data-testid="metrics-step"][data-step="Charge"]')
      await expect.poll(() => row.locator('td').first().textContent()).toBe('64')
      expect(await row.textContent()).toContain('overspent')

      // a project admin (the local developer here) sets an override; the runtime checks it and the card says so
      await page.goto(`${server.appUrl}metrics/Charge`)
      await card.getByRole('button', { name: 'Edit SLO' }).click()
      await page.locator('[data-testid="slo-form"] input[name="errorsTarget"]').fill('50')
      await page.locator('[data-testid="slo-form"]').getByRole('button', { name: 'Save for this project' }).click()
      await expect.poll(() => card.textContent()).toContain('project override')
      await expect.poll(() => card.locator('[data-sli="errors"]').textContent()).toContain('50 % of attempts end ok')
      expect(t.errors).toEqual([])
    } finally {
      await t.close()
    }
  })

  it('fits a 375 px phone with no sideways scrolling', async () => {
    const phone = await openPage(browser, 'phone', { colorScheme: 'dark' })
    try {
      for (const path of ['metrics?window=1h', 'metrics/Charge?window=1h']) {
        await phone.page.goto(`${server.appUrl}${path}`)
        await expect.poll(() => phone.page.locator('[data-testid="slo-card"]').count()).toBe(1)
        await expect.poll(() => phone.page.getByTestId('chart-errors').count()).toBe(1)
        // the alert history with its deliveries (the longest lines of the page) is on it
        await expect.poll(() => phone.page.locator('[data-testid="delivery"][data-target="webhook"]').count()).toBeGreaterThan(0)
        await fits375(phone.page, path)
        await screenshot(phone.page, path.includes('/') ? 'metrics-step-phone-dark' : 'metrics-project-phone-dark')
      }
      expect(phone.errors).toEqual([])
    } finally {
      await phone.close()
    }
  })
})
