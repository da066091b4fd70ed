/**
 * The workbench served by a real control plane: serving rules, the setup link, sign-in through the page as
 * the system admin, a tenant, a team and two projects created through the pages, a second user invited as
 * `project_viewer` who signs in through single sign-on (a real `oidc-provider` on loopback) and sees no edit
 * controls while the admin does, and every admin page at 375 px without horizontal scrolling.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TestOidcIdp } from '../../../packages/control-plane/src/test-support/oidc-idp'
import { type ControlPlane, startControlPlane } from './control-plane'
import { adminPages } from './admin-pages'
import { horizontalOverflow, launchBrowser, openPage, screenshot, type TestPage } from './harness'

const ADMIN = { email: 'root@cfp.test', password: 'correct-horse-battery-staple' }
const VIEWER = { sub: 'viewer-1', email: 'viewer@corp.example', name: 'Vera Viewer', groups: [] as string[] }
const PAGES = ['tenants', 'teams', 'projects', 'members', 'access', 'credentials', 'limits', 'settings'] as const

let cp: ControlPlane
let browser: Browser
const idp = new TestOidcIdp()
let adminTab: TestPage
let viewerTab: TestPage

beforeAll(async () => {
  cp = await startControlPlane()
  await idp.start()
  browser = await launchBrowser()
})

afterAll(async () => {
  await adminTab?.close()
  await viewerTab?.close()
  await browser?.close()
  await idp.close()
  await cp?.stop()
})

const { app, openAdmin } = adminPages(() => cp)

async function editControls(page: Page): Promise<number> {
  return page.locator('[data-edit]').count()
}

/** Console errors other than the refused sign-in the test provokes on purpose. */
const unexpected = (t: TestPage) => t.errors.filter((e) => !/\/v1\/auth\/login/.test(e))

describe('served by the control plane', () => {
  it('redirects / to the workbench, serves hashed assets immutable, the shell with a CSP, and nothing outside its folder', async () => {
    const root = await fetch(`${cp.url}/`, { redirect: 'manual' })
    expect(root.status).toBe(302)
    expect(root.headers.get('location')).toBe('/__cfp/')
    const shell = await fetch(app('/admin/tenants'))
    expect(shell.status).toBe(200)
    expect(shell.headers.get('cache-control')).toBe('no-cache')
    expect(shell.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-/)
    const html = await shell.text()
    const asset = /\/__cfp\/assets\/[^"]+\.js/.exec(html)?.[0]
    expect(asset).toBeTruthy()
    const js = await fetch(`${cp.url}${asset}`)
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(js.headers.get('content-type')).toMatch(/javascript/)
    for (const bad of [
      '/__cfp/..%2f..%2fpackage.json',
      '/__cfp/%2e%2e/%2e%2e/package.json',
      '/__cfp/assets/..%2f..%2f..%2f..%2fpackage.json',
      '/__cfp/assets/missing.js',
    ]) {
      const res = await fetch(`${cp.url}${bad}`)
      expect(res.status, bad).toBe(404)
      expect(await res.text()).not.toContain('"workspaces"')
    }
    const marker = await fetch(app('/control-plane'))
    expect(await marker.json()).toMatchObject({ service: 'cfp-control-plane' })
    const providers = await fetch(`${cp.url}/v1/auth/providers?tenant=nope`)
    expect(await providers.json()).toEqual({ items: [] })
    expect((await fetch(`${cp.url}/v1/auth/providers`)).status).toBe(400)
  })

  it('completes setup through its form, which ends on the sign-in page saying so; the admin signs in (a wrong password says so)', async () => {
    adminTab = await openPage(browser, 'desktop')
    const { page } = adminTab
    await page.goto(cp.setupUrl)
    await page.getByLabel('E-mail').fill(ADMIN.email)
    await page.getByLabel('Name').fill('Root')
    await page.getByLabel(/^Password/).fill(ADMIN.password)
    await page.getByRole('button', { name: 'Create admin' }).click()
    await page.waitForURL(/\/__cfp\/login\?setup=done/)
    const notice = page.locator('[data-notice="setup-done"]')
    await notice.waitFor()
    expect(await notice.innerText()).toContain('Setup is complete')
    expect(await page.content()).not.toMatch(/access_token|eyJ[\w-]+\.eyJ/)

    // without the marker the page says nothing of setup
    await page.goto(app('/'))
    await page.waitForURL(/\/__cfp\/login/)
    await page.getByLabel('E-mail', { exact: true }).waitFor()
    expect(await page.locator('[data-notice="setup-done"]').count()).toBe(0)
    await page.getByLabel('E-mail', { exact: true }).fill(ADMIN.email)
    await page.getByLabel('Password', { exact: true }).fill('not-the-password')
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await expect.poll(() => page.locator('[data-code="login_failed"]').count()).toBe(1)
    expect(await page.locator('[role="alert"]').innerText()).toContain('e-mail address or the password is wrong')

    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.waitForURL(/\/__cfp\/admin\/tenants/)
    await page.locator('.switcher[data-ready="true"]').waitFor()
    // the refresh token is in this tab's sessionStorage; the access token is nowhere in storage
    const stored = await page.evaluate(() => ({ session: { ...sessionStorage }, local: { ...localStorage } }))
    expect(stored.session['cfp.refreshToken']).toMatch(/\S{20,}/)
    expect(JSON.stringify(stored)).not.toMatch(/eyJ[\w-]+\.eyJ/)
    // a reload signs in again from the stored refresh token
    await page.reload()
    await page.locator('.switcher[data-ready="true"]').waitFor()
    expect(page.url()).toContain('/admin/tenants')
  })

  it('creates a tenant, a team and two projects through the pages', async () => {
    const { page } = adminTab
    await openAdmin(page, 'tenants')
    await page.getByLabel('Name', { exact: true }).fill('Acme Corp')
    await page.getByLabel('Slug').fill('acme')
    await page.getByRole('button', { name: 'Create tenant' }).click()
    await expect.poll(() => page.locator('table[aria-label="Tenants"]').innerText()).toContain('Acme Corp')

    await openAdmin(page, 'teams')
    await page.getByLabel('Name', { exact: true }).fill('Core')
    await page.getByRole('button', { name: 'Create team' }).click()
    await expect.poll(() => page.locator('table[aria-label="Teams"]').innerText()).toContain('core')

    await openAdmin(page, 'projects')
    for (const name of ['Alpha', 'Beta']) {
      await page.getByLabel('Name', { exact: true }).fill(name)
      await page.getByRole('button', { name: 'Create project' }).click()
      await expect.poll(() => page.locator('table[aria-label="Projects"]').innerText()).toContain(name.toLowerCase())
    }
    // the switcher offers both; pick Alpha for what follows
    await page.locator('#switch-project').selectOption({ label: 'Alpha (alpha)' })
    await expect.poll(() => page.locator('tr[aria-current="true"]').innerText()).toContain('Alpha')
  })

  it('invites a second user as project_viewer of Alpha, who signs in through SSO and sees no edit controls', async () => {
    const { page } = adminTab
    // the tenant's identity provider (there is no IdP page yet): through the API with an admin token
    const login = await cp.api<{ access_token: string }>('POST', '/v1/auth/login', ADMIN)
    const tenants = await cp.api<{ items: { id: string; slug: string }[] }>('GET', '/v1/tenants', undefined, login.access_token)
    const acme = tenants.items.find((t) => t.slug === 'acme')!
    const created = await cp.api<{ callbackUrl: string }>(
      'POST',
      `/v1/tenants/${acme.id}/idps`,
      { kind: 'oidc', name: 'Corp', clientSecret: idp.clientSecret, oidc: { issuer: idp.issuer, clientId: idp.clientId } },
      login.access_token,
    )
    await idp.configure(created.callbackUrl)
    idp.nextAccount = VIEWER

    await openAdmin(page, 'members')
    await page.getByLabel('E-mail', { exact: true }).fill(VIEWER.email)
    await page.getByLabel('Role (optional)').selectOption('project_viewer')
    await page.getByLabel('At', { exact: true }).selectOption({ label: 'Project Alpha' })
    // only roles the admin may grant at a project are offered
    const offered = await page.locator('#invite-role option').allInnerTexts()
    expect(offered).toEqual(['no role yet', 'project_admin', 'project_editor', 'project_viewer'])
    await page.getByRole('button', { name: 'Add member' }).click()
    await expect.poll(() => page.locator('table[aria-label="Members"]').innerText()).toContain(VIEWER.email)

    await openAdmin(page, 'access')
    await expect.poll(() => page.locator('table[aria-label="Role bindings"]').innerText()).toContain('project_viewer')

    viewerTab = await openPage(browser, 'phone')
    const v = viewerTab.page
    await v.goto(app('/login'))
    await v.getByLabel('Tenant').fill('acme')
    await v.getByRole('button', { name: 'Show sign-in options' }).click()
    await v.getByRole('link', { name: /Sign in with Corp/ }).click()
    await v.waitForURL(/\/__cfp\/admin\/tenants/, { timeout: 30_000 })
    await v.locator('.switcher[data-ready="true"]').waitFor()
    await expect.poll(() => v.locator('#switch-project option').allInnerTexts()).toEqual(['Alpha (alpha)'])

    for (const name of PAGES) {
      await openAdmin(v, name)
      expect(await editControls(v), `viewer on ${name}`).toBe(0)
    }
    // read-only views still show the values
    await openAdmin(v, 'settings')
    expect(await v.locator('main').innerText()).toContain('Allowed origins')
    await openAdmin(v, 'access')
    expect(await v.locator('table[aria-label="Role bindings"]').innerText()).toContain('project_viewer')
    expect(unexpected(viewerTab)).toEqual([])
  })

  it('the admin sees edit controls on every page; an API key secret is shown once', async () => {
    const { page } = adminTab
    for (const name of PAGES) {
      await openAdmin(page, name)
      expect(await editControls(page), `admin on ${name}`).toBeGreaterThan(0)
    }
    await openAdmin(page, 'credentials')
    await page.locator('#cred-apikeys-name').fill('ci')
    await page.getByRole('button', { name: 'Create API key' }).click()
    await expect.poll(() => page.locator('[data-testid="new-secret"]').innerText()).toMatch(/^cfp_live_[a-z0-9]{10}_[A-Za-z0-9]{40}$/)
    await page.getByRole('button', { name: 'Done' }).click()
    expect(await page.locator('[data-testid="new-secret"]').count()).toBe(0)
    expect(await page.locator('table[aria-label="API keys"]').innerText()).toContain('ci')

    await openAdmin(page, 'settings')
    await page.locator('#cors-origins').fill('https://app.example.com')
    await page.getByRole('button', { name: 'Save CORS' }).click()
    await expect.poll(() => page.locator('main').innerText()).toContain('CORS saved.')
    expect(unexpected(adminTab)).toEqual([])
  })

  it('every admin page and the login page fit 375 px without horizontal scrolling, for the admin and the viewer', async () => {
    const phone = await openPage(browser, 'phone')
    try {
      // the admin again, on a phone
      await phone.page.goto(app('/login'))
      await phone.page.getByLabel('E-mail', { exact: true }).fill(ADMIN.email)
      await phone.page.getByLabel('Password', { exact: true }).fill(ADMIN.password)
      await phone.page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await phone.page.waitForURL(/\/admin\/tenants/)
      for (const [who, t] of [
        ['admin', phone],
        ['viewer', viewerTab],
      ] as const) {
        for (const name of PAGES) {
          await openAdmin(t.page, name)
          const o = await horizontalOverflow(t.page)
          expect(o.scrollWidth, `${who} ${name}: ${o.culprits.join(', ')}`).toBeLessThanOrEqual(375)
          await screenshot(t.page, `admin-${who}-${name}-phone`)
        }
      }
      const login = await openPage(browser, 'phone')
      await login.page.goto(app('/login'))
      await login.page.getByLabel('E-mail', { exact: true }).waitFor()
      expect((await horizontalOverflow(login.page)).scrollWidth).toBeLessThanOrEqual(375)
      await screenshot(login.page, 'login-phone')
      await login.close()
    } finally {
      await phone.close()
    }
  })

  it('logging out ends the session on the server and forgets the refresh token', async () => {
    const v = viewerTab.page
    await openAdmin(v, 'tenants')
    const refresh = await v.evaluate(() => sessionStorage.getItem('cfp.refreshToken'))
    // the page ends the session locally at once, then tells the server (logout, then revoke): wait for both
    const revoked = v.waitForResponse((r) => r.url().endsWith('/v1/auth/revoke'))
    const loggedOut = v.waitForResponse((r) => r.url().endsWith('/v1/auth/logout'))
    await v.locator('button:visible', { hasText: 'Log out' }).click()
    await v.waitForURL(/\/__cfp\/login/)
    expect((await loggedOut).status()).toBe(200)
    expect((await revoked).status()).toBe(200)
    expect(await v.evaluate(() => sessionStorage.getItem('cfp.refreshToken'))).toBeNull()
    const res = await fetch(`${cp.url}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: refresh }),
    })
    expect(res.status).toBe(400)
  })
})
