/**
 * Plugin tabs and `*.step.tsx` node components in the real browser, against `cfp dev` running
 * packages/worker/fixtures/ui-project: the tab declared by the project's plugin renders (with its props), the
 * node component replaces the default node of its step in the flow view, and the tab's script — which probes
 * the parent page, cookies, storage and the runtime API and shows what it found — reaches none of the console's.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
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
  type ViewportName,
  waitFor,
} from './harness'

let db: TestDatabase
let server: DevServer
let browser: Browser
let tabBundle: string

interface Ui {
  tabs: Array<{ label: string; plugin: string; position: string; bundle: string }>
  nodes: Record<string, { file: string; bundle: string }>
}

beforeAll(async () => {
  db = await createDatabase()
  server = await startDevServer({
    project: join(REPO_ROOT, 'packages/worker/fixtures/ui-project'),
    name: 'plugin-ui',
    databaseUrl: db.url,
    expectSteps: ['Greet', 'StartGreeting'],
  })
  const ui = await waitFor('the worker to register its UI', async () => {
    const u = await server.api<Ui>('/__cfp/api/ui')
    return u.tabs.length > 0 && u.nodes.Greet ? u : undefined
  })
  tabBundle = ui.tabs[0]?.bundle ?? ''
  browser = await launchBrowser()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await db?.drop()
  if (server) rmSync(server.projectDir, { recursive: true, force: true })
})

/** The workbench's own console errors: the frame's (its refused fetches, logged by the browser) are the attack. */
const ownErrors = (t: TestPage) => t.errors.filter((e) => !e.endsWith('(about:srcdoc)'))

async function open(viewport: ViewportName = 'desktop'): Promise<TestPage> {
  const t = await openPage(browser, viewport)
  // Something of the console's to steal: a cookie and a stored token on the workbench's origin.
  await t.page.context().addCookies([{ name: 'cfp_console_secret', value: 'cookie-s3cret', url: server.runtimeUrl }])
  await t.page.goto(`${server.appUrl}flows`)
  await t.page.evaluate(() => localStorage.setItem('cfp.test.token', 'storage-s3cret'))
  return t
}

describe('plugin UI', () => {
  it('lists the tab and the node; the broken tab is left out; each script is served as a sandbox document', async () => {
    const ui = await server.api<Ui>('/__cfp/api/ui')
    expect(ui.tabs.map((t) => [t.label, t.plugin, t.position])).toEqual([['Probe', 'probePlugin', 'top']])
    expect(ui.nodes.Greet?.file).toBe('steps/greet.step.tsx')
    const res = await fetch(`${server.runtimeUrl}/__cfp/api/ui/bundles/${tabBundle}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(res.headers.get('content-security-policy')).toMatch(/^sandbox allow-scripts; default-src 'none'/)
    expect((await fetch(`${server.runtimeUrl}/__cfp/api/ui/bundles/${'0'.repeat(64)}`)).status).toBe(404)
  })

  it("renders the plugin's tab, whose script cannot read the console's page, cookies, storage or API", async () => {
    const t = await open()
    try {
      const { page } = t
      await page.getByRole('link', { name: 'Probe' }).first().click()
      const frame = page.frameLocator('iframe[title="Plugin tab Probe"]')
      await expect.poll(() => frame.locator('#probe-greeting').textContent(), { timeout: 15_000 }).toBe('hello from the plugin')
      const text = await frame.locator('#probe-findings').textContent({ timeout: 15_000 })
      const found = JSON.parse(text ?? '{}') as Record<string, string>
      expect(await page.locator('iframe[title="Plugin tab Probe"]').getAttribute('sandbox')).toBe('allow-scripts')
      for (const k of ['parentDocument', 'parentStorage', 'cookie', 'localStorage', 'sessionStorage', 'fetchSteps', 'fetchTop']) {
        expect(found[k], `${k}: ${found[k]}`).toMatch(/^blocked/)
      }
      expect(found.origin).toBe('got "null"')
      // the probe knew where the console lives, and still got nothing from it
      expect(found.top).toBe(server.runtimeUrl)
      expect(text).not.toMatch(/s3cret|steps"/)
      // the frame grew to its content (cfp:resize), within bounds
      const h = await page.locator('iframe[title="Plugin tab Probe"]').evaluate((f) => f.getBoundingClientRect().height)
      expect(h).toBeGreaterThanOrEqual(120)
      expect(h).toBeLessThanOrEqual(4000)
      await screenshot(page, 'plugin-tab-desktop')
      expect(t.errors.some((e) => /violates the following Content Security Policy directive: "default-src 'none'"/.test(e))).toBe(true)
      expect(ownErrors(t)).toEqual([])
    } finally {
      await t.close()
    }
  })

  it('draws the node component of greet.step.tsx in place of the default node of Greet', async () => {
    const t = await open()
    try {
      const { page } = t
      await page.goto(`${server.appUrl}flows?flow=ui`)
      const node = page.locator('[data-testid="rf__node-Greet"]')
      await node.waitFor()
      const custom = page.frameLocator('[data-testid="rf__node-Greet"] iframe').locator('#custom-node')
      await expect.poll(() => custom.textContent(), { timeout: 15_000 }).toBe('Custom node: Greet')
      expect(await node.locator('.step-node__name').count()).toBe(0)
      // the other step keeps the default node
      expect(await page.locator('[data-testid="rf__node-StartGreeting"] .step-node__name').textContent()).toBe('StartGreeting')
      await screenshot(page, 'plugin-node-desktop')
      expect(t.errors).toEqual([])
    } finally {
      await t.close()
    }
  })

  it('shows the plugin tab at 375 px without sideways scrolling', async () => {
    const t = await open('phone')
    try {
      const { page } = t
      await page.goto(`${server.appUrl}plugin/${tabBundle}`)
      const frame = page.frameLocator('iframe[title="Plugin tab Probe"]')
      await expect.poll(() => frame.locator('#probe-greeting').textContent(), { timeout: 15_000 }).toBe('hello from the plugin')
      const overflow = await horizontalOverflow(page)
      expect(overflow.scrollWidth, overflow.culprits.join(', ')).toBeLessThanOrEqual(overflow.innerWidth)
      await screenshot(page, 'plugin-tab-phone')
      expect(ownErrors(t)).toEqual([])
    } finally {
      await t.close()
    }
  })
})
