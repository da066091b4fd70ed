/**
 * Step content and the runtime's origin (issue 9 item 2; docs/threat-model.md): the runtime serves both the
 * workbench and whatever the project's API steps return. A step in e2e/fixtures/hostile serves a page whose
 * script goes after the workbench's credentials — the admin token in `localStorage`, cookies, the runtime API
 * on loopback (where `cfp dev` trusts the caller) — and plants CORS and cookie headers. In the real browser it
 * must get none of it: step documents run sandboxed in an opaque origin.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP_DIR, createDatabase, type DevServer, launchBrowser, openPage, startDevServer, type TestDatabase, waitFor } from './harness'

let db: TestDatabase
let server: DevServer
let browser: Browser

const ADMIN_TOKEN = 'cfp-admin-token-the-trap-must-not-read'

beforeAll(async () => {
  db = await createDatabase()
  server = await startDevServer({
    project: join(APP_DIR, 'e2e/fixtures/hostile'),
    name: 'hostile',
    databaseUrl: db.url,
    expectSteps: ['TrapPage', 'TrapSink'],
  })
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await db?.drop()
  if (server) rmSync(server.projectDir, { recursive: true, force: true })
})

type Outcome = { ok: true; value: unknown } | { ok: false; error: string }

describe('a page served by a step', () => {
  it('cannot read the workbench token, cookies or the runtime API, and plants no cookie or CORS grant', async () => {
    const t = await openPage(browser, 'desktop')
    try {
      // The operator's workbench on the same origin, holding an admin token the way the page keeps it.
      await t.page.goto(server.appUrl)
      await t.page.evaluate((token) => localStorage.setItem('cfp.adminToken', token), ADMIN_TOKEN)
      expect(await t.page.evaluate(() => localStorage.getItem('cfp.adminToken'))).toBe(ADMIN_TOKEN)

      await t.page.goto(`${server.runtimeUrl}/trap`)
      const raw = await waitFor('the trap page to report', () => t.page.evaluate(() => document.body?.dataset.result), 20_000)
      const result = JSON.parse(raw) as Record<string, Outcome>

      expect(result.origin).toEqual({ ok: true, value: 'null' })
      expect(result.localStorage).toMatchObject({ ok: false, error: 'SecurityError' })
      expect(result.cookie).toMatchObject({ ok: false, error: 'SecurityError' })
      expect(result.readLogs).toMatchObject({ ok: false })
      expect(result.putState).toMatchObject({ ok: false })
      expect(JSON.stringify(result)).not.toContain(ADMIN_TOKEN)

      // The planted cookie did not reach the browser; the tenant's own host-only cookie did.
      const names = (await t.page.context().cookies(server.runtimeUrl)).map((c) => c.name)
      expect(names).not.toContain('cfp_login')
      expect(names).toContain('theme')

      // Nothing the page sent changed the project: no state written, no event emitted (TrapSink records any).
      await new Promise((r) => setTimeout(r, 1500))
      const state = await server.api<{ items?: Array<{ key: string }> } | Array<{ key: string }>>('/__cfp/api/state/trap')
      const items = Array.isArray(state) ? state : (state.items ?? [])
      expect(items.map((i) => i.key)).toEqual([])
    } finally {
      await t.close()
    }
  })

  it('is answered with the sandbox, no handler CORS grant and only the tenant cookie', async () => {
    const res = await fetch(`${server.runtimeUrl}/trap`, { headers: { origin: 'http://localhost' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-security-policy')).toMatch(/^sandbox allow-scripts/)
    expect(res.headers.get('content-security-policy')).not.toContain('allow-same-origin')
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(res.headers.getSetCookie()).toEqual(['theme=dark; Path=/'])
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  })
})
