/**
 * The workbench against a real `cfp dev` running examples/hello (copied into test-results/projects/):
 * flow graph, step panel, layout saving, Endpoints → Logs (live) → Trace, and every page at phone and
 * desktop sizes without horizontal scrolling or console errors (screenshots in test-results/screenshots/).
 */
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createDatabase,
  type DevServer,
  horizontalOverflow,
  launchBrowser,
  openPage,
  REPO_ROOT,
  screenshot,
  startDevServer,
  type TestDatabase,
  type TestPage,
  VIEWPORTS,
  type ViewportName,
  waitFor,
} from './harness'

const HELLO_STEPS = ['HelloApi', 'ProcessGreeting', 'LogGreeting', 'GreetingReport', 'ManualReview']
// GET /streams is optional: the Streams page explains its absence instead of failing
const OPTIONAL = /\/__cfp\/api\/streams/

let db: TestDatabase
let server: DevServer
let browser: Browser
let traceId: string | undefined

beforeAll(async () => {
  db = await createDatabase()
  server = await startDevServer({ project: join(REPO_ROOT, 'examples/hello'), name: 'hello', databaseUrl: db.url, expectSteps: HELLO_STEPS })
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await db?.drop()
  if (server) rmSync(server.projectDir, { recursive: true, force: true })
})

async function open(viewport: ViewportName = 'desktop', colorScheme: 'light' | 'dark' = 'light'): Promise<TestPage> {
  return openPage(browser, viewport, { colorScheme, optional: OPTIONAL })
}

function url(path: string): string {
  return `${server.appUrl}${path.replace(/^\//, '')}`
}

describe('Flows', () => {
  it('draws the hello flow: five typed steps, three labelled edges, the virtual one dashed', async () => {
    const t = await open()
    try {
      const { page } = t
      await page.goto(url('/flows?flow=hello'))
      await page.locator('.react-flow__node').first().waitFor()
      expect(await page.locator('.react-flow__node').count()).toBe(5)
      for (const [name, type] of [
        ['HelloApi', 'api'],
        ['ProcessGreeting', 'event'],
        ['LogGreeting', 'event'],
        ['GreetingReport', 'cron'],
        ['ManualReview', 'noop'],
      ]) {
        await expect.poll(() => page.locator(`[data-testid="rf__node-${name}"].react-flow__node-${type}`).count()).toBe(1)
      }
      // api nodes show method + path, cron nodes their expression
      await expect.poll(() => page.locator('[data-testid="rf__node-HelloApi"]').innerText()).toContain('/hello')
      expect(await page.locator('[data-testid="rf__node-HelloApi"]').innerText()).toContain('POST')
      expect(await page.locator('[data-testid="rf__node-GreetingReport"]').innerText()).toContain('* * * * *')

      const edges = page.locator('.react-flow__edge')
      expect(await edges.count()).toBe(3)
      const edge = (id: string) => page.locator(`[data-testid="rf__edge-${id}"]`)
      expect(await edge('HelloApi->ProcessGreeting:hello.received').count()).toBe(1)
      expect(await edge('ProcessGreeting->LogGreeting:hello.processed').count()).toBe(1)
      const virtual = edge('ProcessGreeting->ManualReview:hello.processed')
      expect(await virtual.getAttribute('class')).toContain('flow-edge--virtual')
      const dash = await virtual.locator('path.react-flow__edge-path').evaluate((p) => getComputedStyle(p).strokeDasharray)
      expect(dash).not.toBe('none')
      expect(await edge('HelloApi->ProcessGreeting:hello.received').locator('.react-flow__edge-text').textContent()).toBe('hello.received')

      // steps light up when their spans arrive on /live
      await page.locator('.live--open').first().waitFor({ timeout: 20_000 })
      await server.api('/hello', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Live' }) })
      for (const step of ['HelloApi', 'ProcessGreeting', 'LogGreeting']) {
        await page.locator(`.step-node[data-step="${step}"]:is([data-status="running"], [data-status="ok"])`).waitFor({ timeout: 10_000 })
      }
      await screenshot(page, 'flows-live-desktop-light')
      expect(t.errors).toEqual([])
    } finally {
      await t.close()
    }
  })

  it('opens a step panel on click and saves a dragged position to motia-workbench.json', async () => {
    const t = await open()
    try {
      const { page } = t
      await page.goto(url('/flows?flow=hello'))
      const node = page.locator('[data-testid="rf__node-HelloApi"]')
      await node.waitFor()
      await node.click()
      const panel = page.getByRole('complementary', { name: 'Step HelloApi' })
      await panel.waitFor()
      expect(await panel.innerText()).toContain('steps/hello-api.step.ts')
      expect(await panel.innerText()).toContain('Body schema')
      // the step's source, read from the worker on first open
      await panel.getByText('Source', { exact: true }).click()
      const source = panel.getByLabel('Source of steps/hello-api.step.ts')
      await source.waitFor()
      expect(await source.innerText()).toContain("name: 'HelloApi'")

      const box = (await node.boundingBox())!
      await page.mouse.move(box.x + box.width / 2, box.y + 20)
      await page.mouse.down()
      await page.mouse.move(box.x + box.width / 2 - 30, box.y - 60, { steps: 8 })
      await page.mouse.up()
      await page.getByText('Layout saved to motia-workbench.json').waitFor()
      const layout = await server.api<Array<{ id: string; config: Record<string, { x: number; y: number }> }>>('/__cfp/api/layout')
      const hello = layout.find((f) => f.id === 'hello')
      expect(hello?.config['steps/hello-api.step.ts']).toMatchObject({ x: expect.any(Number), y: expect.any(Number) })
      expect(Object.keys(hello!.config).sort()).toEqual([
        'steps/greeting-report.step.ts',
        'steps/hello-api.step.ts',
        'steps/log-greeting.step.ts',
        'steps/manual-review.step.ts',
        'steps/process-greeting.step.ts',
      ])
      // keyboard: a focused step opens with Enter. A live refresh of the graph (the layout save above, a
      // registration event) may re-render the node between focus and key press on a loaded machine: focus again.
      const logPanel = page.getByRole('complementary', { name: 'Step LogGreeting' })
      for (let attempt = 1; ; attempt++) {
        await page.locator('[data-testid="rf__node-LogGreeting"]').focus()
        await page.keyboard.press('Enter')
        try {
          await logPanel.waitFor({ timeout: 5_000 })
          break
        } catch (err) {
          if (attempt === 3) throw err
        }
      }
      expect(t.errors).toEqual([])
    } finally {
      await t.close()
    }
  })
})

describe('Endpoints → Logs → Traces', () => {
  it('calls POST /hello from the Endpoints page; its log line appears live on the Logs page and its trace opens', async () => {
    const logs = await open()
    const caller = await open()
    try {
      const name = `Grace-${randomBytes(3).toString('hex')}`
      await logs.page.goto(url('/logs'))
      await logs.page.locator('.live--open').first().waitFor({ timeout: 20_000 })
      await logs.page.getByRole('heading', { name: 'Logs' }).waitFor()

      const page: Page = caller.page
      await page.goto(url('/endpoints?step=HelloApi'))
      const body = page.locator('textarea[name="body"]')
      await body.waitFor()
      await body.fill(JSON.stringify({ name }))
      await page.getByRole('button', { name: 'Send' }).click()
      await expect.poll(() => page.getByTestId('response-status').textContent(), { timeout: 15_000 }).toBe('202')
      await screenshot(page, 'endpoints-response-desktop-light')
      const traceLink = page.getByTestId('response-trace')
      const href = (await traceLink.getAttribute('href'))!
      traceId = decodeURIComponent(href.split('/traces/')[1]!)
      expect(traceId).toMatch(/[0-9a-f-]{16,}/)

      // the Logs page was not reloaded: the line arrives over GET /live
      const line = logs.page.getByTestId('log-line').filter({ hasText: 'Greeting received' }).filter({ hasText: name })
      await line.waitFor({ timeout: 15_000 })
      const processed = logs.page.getByTestId('log-line').filter({ hasText: 'Greeting processed' }).filter({ hasText: name })
      await processed.waitFor({ timeout: 15_000 })
      expect(await line.getByRole('link').getAttribute('href')).toContain(traceId)

      // the response's trace link opens the timeline with the three steps that ran (once the runtime has
      // recorded the trace: a click before that shows "not recorded yet" and a 404 in the console)
      await waitFor('the trace to be recorded', async () => (await server.api<{ spans: unknown[] }>(`/__cfp/api/traces/${traceId}`)).spans.length >= 3)
      await traceLink.click()
      await page.getByTestId('trace-id').waitFor()
      expect(await page.getByTestId('trace-id').textContent()).toBe(traceId)
      for (const step of ['HelloApi', 'ProcessGreeting', 'LogGreeting']) {
        await page.locator(`[data-testid="span-row"][data-step="${step}"]`).waitFor({ timeout: 15_000 })
      }

      // the trace is in the list too
      await page.goto(url('/traces'))
      await page.locator(`a[href$="/traces/${traceId}"]`).first().waitFor({ timeout: 15_000 })

      // and a log line's link leads to the same trace
      await line.getByRole('link').click()
      await logs.page.getByTestId('trace-id').waitFor()
      expect(await logs.page.getByTestId('trace-id').textContent()).toBe(traceId)
      expect([...logs.errors, ...caller.errors]).toEqual([])
    } finally {
      await logs.close()
      await caller.close()
    }
  })
})

describe('every page, at 375×812 and 1440×900', () => {
  const pages: Array<{ name: string; path: () => string; ready: (p: Page) => Promise<unknown> }> = [
    { name: 'flows', path: () => '/flows?flow=hello', ready: (p) => p.locator('.react-flow__node').first().waitFor() },
    {
      name: 'flows-step',
      path: () => '/flows?flow=hello&step=ProcessGreeting',
      ready: (p) => p.getByRole('complementary', { name: 'Step ProcessGreeting' }).waitFor(),
    },
    { name: 'endpoints', path: () => '/endpoints?step=HelloApi', ready: (p) => p.getByRole('button', { name: 'Send' }).waitFor() },
    { name: 'logs', path: () => '/logs', ready: (p) => p.getByTestId('log-line').first().waitFor() },
    { name: 'traces', path: () => '/traces', ready: (p) => p.getByTestId('trace-row').first().waitFor() },
    { name: 'trace', path: () => `/traces/${traceId ?? 'none'}`, ready: (p) => p.getByTestId('span-row').first().waitFor() },
    { name: 'state', path: () => '/state', ready: (p) => p.getByTestId('state-item').first().waitFor() },
    { name: 'streams', path: () => '/streams', ready: (p) => p.getByRole('heading', { name: 'Streams' }).waitFor() },
    { name: 'queues', path: () => '/queues', ready: (p) => p.getByRole('heading', { name: 'Per step' }).waitFor() },
  ]

  for (const viewport of Object.keys(VIEWPORTS) as ViewportName[]) {
    for (const scheme of ['light', 'dark'] as const) {
      it(`${viewport} ${scheme}: no horizontal overflow, no console errors`, async () => {
        if (!traceId) {
          // this block also runs alone (vitest -t): make sure there is a trace and some state
          const r = await server.api<{ traceId: string }>('/hello', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'Ada' }),
          })
          traceId = r.traceId
          await waitFor('the greeting to be processed', async () => (await server.api<{ items: unknown[] }>('/__cfp/api/state/greetings')).items.length > 0)
        }
        const t = await open(viewport, scheme)
        try {
          for (const p of pages) {
            await t.page.goto(url(p.path()))
            await p.ready(t.page)
            await t.page.waitForTimeout(300)
            const o = await horizontalOverflow(t.page)
            expect(o.scrollWidth, `${p.name} at ${viewport} overflows: ${o.culprits.join(', ')}`).toBeLessThanOrEqual(o.innerWidth)
            await screenshot(t.page, `${p.name}-${viewport}-${scheme}`)
          }
          if (viewport === 'phone') {
            // the navigation collapses into a menu that opens and navigates
            await t.page.getByRole('button', { name: 'Open menu' }).click()
            await t.page.locator('#mobile-nav').getByRole('link', { name: 'Logs' }).click()
            await t.page.getByRole('heading', { name: 'Logs' }).waitFor()
            expect(await t.page.locator('#mobile-nav').count()).toBe(0)
          }
          expect(t.errors).toEqual([])
        } finally {
          await t.close()
        }
      })
    }
  }

  it('remembers the theme toggle across reloads', async () => {
    const t = await open('desktop', 'light')
    try {
      await t.page.goto(url('/queues'))
      expect(await t.page.evaluate(() => document.documentElement.dataset.theme)).toBe('light')
      await t.page.getByRole('button', { name: 'Switch to dark theme' }).first().click()
      expect(await t.page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
      await t.page.reload()
      expect(await t.page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    } finally {
      await t.close()
    }
  })
})
