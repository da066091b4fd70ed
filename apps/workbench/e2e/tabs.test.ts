/**
 * A duplicated tab (docs/workbench.md, "Tokens"): in one browser context the admin signs in on page A, page B
 * starts with a copy of A's sessionStorage (as Chrome and Firefox do when a tab is duplicated) and resumes —
 * rotating the refresh token both hold. A, whose access token (60 s here: `--access-token-ttl 60`) then nears
 * expiry, refreshes by itself, is reloaded, and both are reloaded at once; both stay signed in, no refresh token
 * is ever presented twice, every grant is answered and the control plane revokes nothing (its revocation feed,
 * read with the service token, has no `refresh_token_reuse`). Logging out in A then sends B to the login page
 * without a reload.
 */
import { randomBytes } from 'node:crypto'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ControlPlane, startControlPlane } from './control-plane'
import { launchBrowser, VIEWPORTS } from './harness'

const ADMIN = { email: 'root@cfp.test', password: 'correct-horse-battery-staple' }
const SERVICE_TOKEN = randomBytes(24).toString('hex')
const REFRESH_KEY = 'cfp.refreshToken'

let cp: ControlPlane
let browser: Browser
let context: BrowserContext
let a: Page
let b: Page

/** Every refresh grant the pages sent: which page, the refresh token it presented, the answer's status. */
const grants: { page: 'A' | 'B' | '?'; token: string; status?: number; access?: string }[] = []
/** Every other control-plane call the pages made (`A POST /v1/auth/logout`, …). */
const calls: string[] = []
const errors: string[] = []

const app = (path: string) => `${cp.url}/__cfp/${path.replace(/^\//, '')}`
const nameOf = (p: Page | undefined): 'A' | 'B' | '?' => (p === a ? 'A' : p === b ? 'B' : '?')
const stored = (p: Page) => p.evaluate((k) => sessionStorage.getItem(k), REFRESH_KEY)
const presentedBy = (who: 'A' | 'B') => grants.filter((g) => g.page === who).map((g) => g.token)

async function revocations(): Promise<{ kind: string; reason: string }[]> {
  return (await cp.api<{ items: { kind: string; reason: string }[] }>('GET', '/v1/service/revocations?since=0', undefined, SERVICE_TOKEN)).items
}

async function signedIn(p: Page): Promise<void> {
  try {
    await p.locator('.switcher[data-ready="true"]').waitFor({ timeout: 20_000 })
  } catch (e) {
    // say where the page is and why, rather than only that the switcher never came
    const alert = await p
      .locator('[role="alert"]')
      .allInnerTexts()
      .catch(() => [])
    const revoked = await revocations().catch(() => [])
    throw new Error(
      `page ${nameOf(p)} is not signed in (${(e as Error).message.split('\n')[0]}): at ${p.url()}, alert ${JSON.stringify(alert)}, ` +
        `revocations ${JSON.stringify(revoked)}, grants ${JSON.stringify(grants.map((g) => ({ page: g.page, token: g.token.slice(-6), status: g.status })))}, ` +
        `errors ${JSON.stringify(errors)}`,
    )
  }
  expect(p.url()).toContain('/__cfp/admin/tenants')
}

beforeAll(async () => {
  cp = await startControlPlane({ extraArgs: ['--access-token-ttl', '60', '--service-token', SERVICE_TOKEN] })
  browser = await launchBrowser()
  context = await browser.newContext({ viewport: VIEWPORTS.desktop })
  context.on('request', (r) => {
    const url = new URL(r.url())
    if (r.method() !== 'POST' || !url.pathname.startsWith('/v1/')) return
    const page = nameOf(r.frame().page())
    const body = r.postDataJSON() as { grant_type?: string; refresh_token?: string } | null
    if (url.pathname === '/v1/auth/token' && body?.grant_type === 'refresh_token') {
      const grant: (typeof grants)[number] = { page, token: String(body.refresh_token) }
      grants.push(grant)
      void r.response().then(async (res) => {
        grant.status = res?.status()
        grant.access = (await res?.json().catch(() => undefined))?.access_token
      })
    } else {
      calls.push(`${page} POST ${url.pathname}`)
    }
  })
  context.on('page', (p) => {
    p.on('console', (m) => void (m.type() === 'error' && errors.push(`${nameOf(p)}: ${m.text()} (${m.location().url})`)))
    p.on('pageerror', (e) => void errors.push(`${nameOf(p)} uncaught: ${e.message}`))
  })
})

afterAll(async () => {
  await context?.close()
  await browser?.close()
  await cp?.stop()
})

describe('a duplicated tab', () => {
  it('shares the session with its original: both stay signed in and the control plane sees no reuse', async () => {
    const setup = new URL(cp.setupUrl).searchParams.get('token')
    await cp.api('POST', '/v1/setup', { token: setup, ...ADMIN, displayName: 'Root' })

    a = await context.newPage()
    await a.goto(app('/login'))
    await a.getByLabel('E-mail', { exact: true }).fill(ADMIN.email)
    await a.getByLabel('Password', { exact: true }).fill(ADMIN.password)
    await a.getByRole('button', { name: 'Sign in', exact: true }).click()
    await a.waitForURL(/\/__cfp\/admin\/tenants/)
    await signedIn(a)
    const original = await stored(a)
    expect(original).toMatch(/^cfp_rt_/)

    // B: the duplicate — A's sessionStorage before any script of B runs (once: a reload of B keeps its own)
    const copy = await a.evaluate(() => ({ ...sessionStorage }))
    b = await context.newPage()
    await b.addInitScript((c: Record<string, string>) => {
      if (sessionStorage.getItem('e2e.duplicated')) return
      for (const [k, v] of Object.entries(c)) sessionStorage.setItem(k, v)
      sessionStorage.setItem('e2e.duplicated', '1')
    }, copy)
    await b.goto(app('/admin/tenants'))
    await signedIn(b)
    // B resumed by presenting the copied token; A was told the successor
    expect(grants[0]).toMatchObject({ page: 'B', token: original })
    const successor = await stored(b)
    expect(successor).toMatch(/^cfp_rt_/)
    expect(successor).not.toBe(original)
    await expect.poll(() => stored(a), { timeout: 5_000 }).toBe(successor)

    // A refreshes by itself (its 60 s access token is renewed at half its lifetime) — presenting what it was told
    await expect.poll(() => presentedBy('A').length, { timeout: 45_000, interval: 500 }).toBeGreaterThan(0)
    expect(presentedBy('A')[0]).not.toBe(original)
    await expect.poll(() => grants.every((g) => g.status === 200), { timeout: 10_000 }).toBe(true)
    await expect.poll(async () => (await stored(a)) === (await stored(b)), { timeout: 5_000 }).toBe(true)

    // a reload of A resumes from the token in its sessionStorage; then both reload at once (one waits for the other)
    await a.reload()
    await signedIn(a)
    await Promise.all([a.reload(), b.reload()])
    await Promise.all([signedIn(a), signedIn(b)])
    await expect.poll(() => grants.every((g) => g.status !== undefined), { timeout: 10_000 }).toBe(true)
    await expect.poll(async () => (await stored(a)) === (await stored(b)), { timeout: 5_000 }).toBe(true)

    // no token presented twice, every grant answered, nothing revoked; the newest access token works
    const presented = grants.map((g) => g.token)
    expect(presented.length).toBeGreaterThanOrEqual(5)
    expect(new Set(presented).size).toBe(presented.length)
    expect(grants.map((g) => g.status)).toEqual(grants.map(() => 200))
    expect(await revocations()).toEqual([])
    const me = await cp.api<{ kind: string; id: string }>('GET', '/v1/me', undefined, grants.at(-1)!.access)
    expect(me).toMatchObject({ kind: 'user', id: expect.stringMatching(/^[0-9a-f-]{36}$/) })
    // localStorage has hashes of spent tokens, never a token
    const local = await a.evaluate(() => ({ ...localStorage }))
    expect(JSON.stringify(local)).not.toMatch(/cfp_rt_|eyJ[\w-]+\.eyJ/)
    const spent = JSON.parse(local['cfp.session.spent'] ?? '[]') as { h: string }[]
    expect(spent.length).toBeGreaterThanOrEqual(presented.length)
    for (const e of spent) expect(e.h).toMatch(/^[0-9a-f]{64}$/)
    // …and so has IndexedDB, which is what the next tab to take the lock reads
    const inIdb = await a.evaluate(
      () =>
        new Promise<string[]>((resolve, reject) => {
          const open = indexedDB.open('cfp.session')
          open.onerror = () => reject(open.error)
          open.onsuccess = () => {
            try {
              const req = open.result.transaction('spent').objectStore('spent').getAllKeys()
              req.onsuccess = () => resolve(req.result.map(String))
              req.onerror = () => reject(req.error)
            } catch (e) {
              reject(e) // no such store: nothing was written there
            }
          }
        }),
    )
    expect(inIdb.sort()).toEqual(spent.map((e) => e.h).sort())
    expect(errors).toEqual([])
  })

  it('logging out in one tab sends the other to the login page at once, without a reload', async () => {
    await b.evaluate(() => ((window as unknown as { e2eNoReload: boolean }).e2eNoReload = true))
    const before = calls.length
    await a.locator('button:visible', { hasText: 'Log out' }).click()
    await a.waitForURL(/\/__cfp\/login/)
    await expect.poll(() => b.url(), { timeout: 10_000 }).toMatch(/\/__cfp\/login/)
    await b.locator('[data-code="signed_out_elsewhere"]').waitFor({ timeout: 5_000 })
    expect(await b.locator('[role="alert"]').innerText()).toContain('Signed out in another tab')
    expect(await b.evaluate(() => (window as unknown as { e2eNoReload?: boolean }).e2eNoReload)).toBe(true)
    expect(await stored(a)).toBeNull()
    expect(await stored(b)).toBeNull()
    // only A told the server; the session is revoked for the logout, never for a reuse
    await expect.poll(() => calls.slice(before).sort(), { timeout: 5_000 }).toEqual(['A POST /v1/auth/logout', 'A POST /v1/auth/revoke'])
    // (`logout` and `revoke` race: the session is revoked once, for whichever came first)
    await expect
      .poll(async () => (await revocations()).map((r) => `${r.kind} ${r.reason}`), { timeout: 5_000 })
      .toEqual([expect.stringMatching(/^session (logout|revoked)$/)])
    expect(errors).toEqual([])
  })
})
