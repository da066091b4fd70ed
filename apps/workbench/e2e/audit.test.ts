/**
 * Issue 10's "done when", end to end against a real control plane, Chromium at 375 px and the real CLI: the admin
 * signs in and changes things in the console, sees every change on the Audit page with its proof checked in the
 * browser, `cfp audit verify` says the chains are intact, a superuser's edit behind the triggers is named by chain
 * and seq, and an exported bundle verifies offline with `cfp-audit-verify`.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminPages, fits375 } from './admin-pages'
import { type ControlPlane, startControlPlane } from './control-plane'
import { launchBrowser, openPage, REPO_ROOT, type TestPage } from './harness'

const ADMIN = { email: 'root@cfp.test', password: 'correct-horse-battery-staple' }
const DB = process.env.CFP_E2E_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const CFP = join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js')
const VERIFY = join(REPO_ROOT, 'packages', 'audit-verify', 'dist', 'cli.js')

let cp: ControlPlane
let browser: Browser
let tab: TestPage
const { app, openAdmin } = adminPages(() => cp)

/** Runs a Node CLI; resolves with its exit code and output (never rejects on a non-zero exit). */
function run(script: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0
      resolve({ code, out: `${stdout}${stderr}` })
    })
  })
}

beforeAll(async () => {
  cp = await startControlPlane()
  browser = await launchBrowser()
  await cp.api('POST', '/v1/setup', { token: new URL(cp.setupUrl).searchParams.get('token'), ...ADMIN, displayName: 'Root' })
})

afterAll(async () => {
  await tab?.close()
  await browser?.close()
  await cp?.stop()
})

describe('the audit log', () => {
  it('shows the changes made in the console, each with its proof checked in the browser, at 375 px', async () => {
    tab = await openPage(browser, 'phone')
    const { page } = tab
    await page.goto(app('/login'))
    await page.getByLabel('E-mail', { exact: true }).fill(ADMIN.email)
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.waitForURL(/\/__cfp\/admin\/tenants/)
    await page.locator('.switcher[data-ready="true"]').waitFor()

    // a change through the console: a new tenant
    await page.getByLabel('Name', { exact: true }).fill('Audited Inc')
    await page.getByRole('button', { name: 'Create tenant' }).click()
    await expect.poll(() => page.locator('table[aria-label="Tenants"]').innerText(), { timeout: 15_000 }).toContain('Audited Inc')

    await openAdmin(page, 'audit')
    await page.locator('h1', { hasText: 'Audit log' }).waitFor()
    // tenant creation and sign-ins are in the system chain (docs/audit.md, Chains): read the whole installation
    // (the page starts on the tenant the switcher selected, when there is one)
    await page.getByLabel('Scope').selectOption('system')
    // the sequencer moves entries into the chain within moments: search until the tenant's creation is listed
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Search', exact: true }).click()
          await page.waitForFunction(() => !document.querySelector('.loading'))
          return page.locator('table[aria-label="Audit entries"] td', { hasText: 'tenant.create' }).count()
        },
        { timeout: 20_000 },
      )
      .toBeGreaterThan(0)
    expect(await page.locator('table[aria-label="Audit entries"] td', { hasText: 'auth.login' }).count()).toBeGreaterThan(0)
    await fits375(page, 'audit log')

    const row = page.locator('table[aria-label="Audit entries"] tr', { hasText: 'tenant.create' }).first()
    await row.getByRole('button').click()
    await page.locator('[data-proof="ok"]').waitFor({ timeout: 15_000 })
    expect(await page.locator('[data-proof]').innerText()).toMatch(/inclusion proof leads to the root/)
    await fits375(page, 'audit entry')
    expect(tab.errors).toEqual([])
  })

  it('cfp audit verify finds the chains intact, then names a row a superuser edited behind the triggers', async () => {
    const ok = await run(CFP, ['audit', 'verify', '--database-url', DB, '--schema', cp.schema])
    expect(ok.out).toMatch(/audit chains intact/)
    expect(ok.code).toBe(0)

    // an export before the tampering verifies offline, with no CFP code but the standalone verifier
    const out = join(mkdtempSync(join(tmpdir(), 'cfp-audit-e2e-')), 'bundle.cfpaudit')
    const { items: tenants } = await cp.api<{ items: { id: string; name: string }[] }>('GET', '/v1/tenants', undefined, await adminToken())
    const tenant = tenants.find((t) => t.name === 'Audited Inc')
    expect(tenant, 'the tenant the first test created').toBeDefined()
    const exported = await run(CFP, ['audit', 'export', '--database-url', DB, '--schema', cp.schema, '--tenant', tenant!.id, '--out', out])
    expect(exported.code, exported.out).toBe(0)
    const offline = await run(VERIFY, [out])
    expect(offline.code, offline.out).toBe(0)

    const c = new pg.Client({ connectionString: DB })
    await c.connect()
    try {
      await c.query(`SET search_path TO "${cp.schema}"`)
      const { rows } = await c.query<{ chain: string; seq: string }>("SELECT chain, seq FROM audit_entries WHERE kind = 'tenant.create' LIMIT 1")
      const { chain, seq } = rows[0]!
      await c.query('ALTER TABLE audit_entries DISABLE TRIGGER USER')
      await c.query(`UPDATE audit_entries SET leaf = replace(leaf, '"ok"', '"OK"') WHERE chain = $1 AND seq = $2`, [chain, seq])
      await c.query('ALTER TABLE audit_entries ENABLE TRIGGER USER')
      const bad = await run(CFP, ['audit', 'verify', '--database-url', DB, '--schema', cp.schema])
      expect(bad.code).toBe(1)
      expect(bad.out).toContain(`FAIL  ${chain}  seq ${seq}  edited`)
    } finally {
      await c.end()
    }
  })
})

async function adminToken(): Promise<string> {
  return (await cp.api<{ access_token: string }>('POST', '/v1/auth/login', ADMIN)).access_token
}
