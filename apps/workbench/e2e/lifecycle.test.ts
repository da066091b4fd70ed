/**
 * Renaming and deleting tenants, teams and projects through the admin pages, against a real control plane, all at
 * 375 px: the system admin renames a project and a team; deletes a project by typing its slug (a wrong slug keeps
 * the button disabled) and sees it vanish from the switcher and the API, its API key refused by the service API;
 * a team that still has a project shows the server's 409 `not_empty` message; an empty team and an empty tenant are
 * deleted. A `project_viewer` (signed in through a real `oidc-provider`) sees no rename or delete control; a
 * `project_admin` may rename its project but not delete it. No page scrolls sideways.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Account, TestOidcIdp } from '../../../packages/control-plane/src/test-support/oidc-idp'
import { type ControlPlane, startControlPlane } from './control-plane'
import { adminPages, fits375 } from './admin-pages'
import { launchBrowser, openPage, screenshot, type TestPage } from './harness'

const ADMIN = { email: 'root@cfp.test', password: 'correct-horse-battery-staple' }
const VIEWER = { sub: 'viewer-1', email: 'viewer@corp.example', name: 'Vic Viewer', groups: [] as string[] }
const OWNER = { sub: 'owner-1', email: 'owner@corp.example', name: 'Olga Owner', groups: [] as string[] }
const SERVICE_TOKEN = 'lifecycle-e2e-service-token-0123456789'

let cp: ControlPlane
let browser: Browser
const idp = new TestOidcIdp()
const tabs: TestPage[] = []
let admin: TestPage
let token: string
const ids: Record<string, string> = {}
let betaKey: string

beforeAll(async () => {
  cp = await startControlPlane({ extraArgs: ['--service-token', SERVICE_TOKEN] })
  await idp.start()
  browser = await launchBrowser()
  await cp.api('POST', '/v1/setup', { token: new URL(cp.setupUrl).searchParams.get('token'), ...ADMIN, displayName: 'Root' })
  token = (await cp.api<{ access_token: string }>('POST', '/v1/auth/login', ADMIN)).access_token
  const post = async (path: string, body: unknown) => (await cp.api<{ id: string }>('POST', path, body, token)).id
  ids.acme = await post('/v1/tenants', { slug: 'acme', name: 'Acme', region: 'local' })
  ids.globex = await post('/v1/tenants', { slug: 'globex', name: 'Globex', region: 'local' })
  ids.core = await post(`/v1/tenants/${ids.acme}/teams`, { slug: 'core', name: 'Core' })
  ids.spare = await post(`/v1/tenants/${ids.acme}/teams`, { slug: 'spare', name: 'Spare' })
  ids.alpha = await post(`/v1/teams/${ids.core}/projects`, { slug: 'alpha', name: 'Alpha' })
  ids.beta = await post(`/v1/teams/${ids.core}/projects`, { slug: 'beta', name: 'Beta' })
  betaKey = (await cp.api<{ token: string }>('POST', `/v1/projects/${ids.beta}/apikeys`, { name: 'ci', role: 'project_viewer' }, token)).token
  const created = await cp.api<{ callbackUrl: string }>(
    'POST',
    `/v1/tenants/${ids.acme}/idps`,
    { kind: 'oidc', name: 'Corp', clientSecret: idp.clientSecret, oidc: { issuer: idp.issuer, clientId: idp.clientId } },
    token,
  )
  await idp.configure(created.callbackUrl)
  for (const [who, role] of [
    [VIEWER, 'project_viewer'],
    [OWNER, 'project_admin'],
  ] as const) {
    await cp.api('POST', `/v1/tenants/${ids.acme}/members`, { email: who.email, role, scope: { kind: 'project', id: ids.alpha } }, token)
  }
})

afterAll(async () => {
  for (const t of tabs) await t.close()
  await browser?.close()
  await idp.close()
  await cp?.stop()
})

const { app, openAdmin, ssoSignIn: signIn } = adminPages(() => cp)
const ssoSignIn = (page: Page, account: Account) => signIn(page, idp, account)

async function phoneTab(): Promise<TestPage> {
  const t = await openPage(browser, 'phone')
  tabs.push(t)
  return t
}

/** The open dialog (there is at most one). */
const dialog = (page: Page) => page.locator('dialog[open]')
const options = (page: Page, id: string) => page.locator(`#${id} option`).allInnerTexts()
const status = async (path: string) => (await fetch(`${cp.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).status

/** Console errors other than the refused team deletion (409) the test provokes on purpose. */
const unexpected = (t: TestPage) => t.errors.filter((e) => !/status of 409 \(Conflict\)/.test(e))

describe('rename and delete through the admin pages', () => {
  it('the admin renames a project and a team', async () => {
    admin = await phoneTab()
    const { page } = admin
    await page.goto(app('/login'))
    await page.getByLabel('E-mail', { exact: true }).fill(ADMIN.email)
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.waitForURL(/\/__cfp\/admin\/tenants/)
    await page.locator('.switcher[data-ready="true"]').waitFor()
    await page.locator('#switch-tenant').selectOption({ label: 'Acme (acme)' })
    await page.locator('#switch-team').selectOption({ label: 'Core (core)' })

    await openAdmin(page, 'projects')
    await expect.poll(() => page.locator('table[aria-label="Projects"]').innerText()).toContain('beta')
    await page.getByRole('button', { name: 'Rename project Alpha' }).click()
    const rename = dialog(page)
    await expect.poll(() => rename.locator('h2').innerText()).toBe('Rename project “Alpha”')
    // the unchanged name cannot be submitted
    expect(await rename.getByRole('button', { name: 'Rename', exact: true }).isDisabled()).toBe(true)
    await rename.getByLabel('New name').fill('Alpha Prime')
    await fits375(page, 'rename dialog')
    await rename.getByRole('button', { name: 'Rename', exact: true }).click()
    await expect.poll(() => page.locator('table[aria-label="Projects"]').innerText()).toContain('Alpha Prime')
    await expect.poll(() => page.locator('main').innerText()).toContain('Project “Alpha” renamed to “Alpha Prime”.')
    await expect.poll(() => options(page, 'switch-project')).toContain('Alpha Prime (alpha)')
    expect((await cp.api<{ name: string; slug: string }>('GET', `/v1/projects/${ids.alpha}`, undefined, token)).name).toBe('Alpha Prime')

    await openAdmin(page, 'teams')
    await page.getByRole('button', { name: 'Rename team Core' }).click()
    await dialog(page).getByLabel('New name').fill('Core Platform')
    await dialog(page).getByRole('button', { name: 'Rename', exact: true }).click()
    await expect.poll(() => page.locator('table[aria-label="Teams"]').innerText()).toContain('Core Platform')
    await expect.poll(() => options(page, 'switch-team')).toContain('Core Platform (core)')
    expect((await cp.api<{ name: string }>('GET', `/v1/teams/${ids.core}`, undefined, token)).name).toBe('Core Platform')
    expect(unexpected(admin)).toEqual([])
  })

  it('deletes the selected project by typing its slug; it vanishes from the switcher, the lists and the API', async () => {
    const { page } = admin
    await openAdmin(page, 'projects')
    await page.locator('#switch-project').selectOption({ label: 'Beta (beta)' })
    await expect.poll(() => page.locator('tr[aria-current="true"]').innerText()).toContain('Beta')

    await page.getByRole('button', { name: 'Delete project Beta' }).click()
    const d = dialog(page)
    await expect.poll(() => d.locator('h2').innerText()).toBe('Delete project “Beta”?')
    const explained = await d.innerText()
    expect(explained).toContain('API keys and worker tokens are revoked')
    expect(explained).toContain('disconnect its workers')
    expect(explained).toContain('purged after the runtime’s retention')
    const confirm = d.getByRole('button', { name: 'Delete project', exact: true })
    expect(await confirm.isDisabled()).toBe(true)
    for (const wrong of ['bet', 'Beta', 'beta ', 'alpha']) {
      await d.getByLabel('Type beta to confirm').fill(wrong)
      expect(await confirm.isDisabled(), wrong).toBe(true)
    }
    await d.getByLabel('Type beta to confirm').press('Enter')
    expect(await status(`/v1/projects/${ids.beta}`)).toBe(200)
    await fits375(page, 'delete dialog')
    await screenshot(page, 'lifecycle-delete-project-phone')

    await d.getByLabel('Type beta to confirm').fill('beta')
    expect(await confirm.isDisabled()).toBe(false)
    await confirm.click()
    await expect.poll(() => page.locator('main').innerText()).toContain('Project “Beta” deleted.')
    expect(await page.locator('dialog[open]').count()).toBe(0)
    // the switcher falls back to the other project; the list and the API no longer have it
    await expect.poll(() => options(page, 'switch-project')).toEqual(['Alpha Prime (alpha)'])
    expect(await page.locator('#switch-project').inputValue()).toBe(ids.alpha)
    expect(await page.locator('table[aria-label="Projects"]').innerText()).not.toContain('beta')
    expect(await status(`/v1/projects/${ids.beta}`)).toBe(404)
    const listed = await cp.api<{ items: { id: string }[] }>('GET', `/v1/teams/${ids.core}/projects`, undefined, token)
    expect(listed.items.map((p) => p.id)).toEqual([ids.alpha])
    // its API key is refused wherever a runtime asks, and the refusal is in the revocation feed
    const verify = await fetch(`${cp.url}/v1/service/credentials/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token: betaKey }),
    })
    expect(await verify.json()).toEqual({ valid: false })
    const feed = await fetch(`${cp.url}/v1/service/revocations?since=0`, { headers: { authorization: `Bearer ${SERVICE_TOKEN}` } })
    expect(((await feed.json()) as { items: { reason: string }[] }).items.map((i) => i.reason)).toContain('project deleted')
    expect(unexpected(admin)).toEqual([])
  })

  it('a team that still has a project shows the 409 message; an empty team and an empty tenant are deleted', async () => {
    const { page } = admin
    await openAdmin(page, 'teams')
    await page.getByRole('button', { name: 'Delete team Core Platform' }).click()
    const d = dialog(page)
    expect(await d.innerText()).toContain('Only an empty team can be deleted')
    await d.getByLabel('Type core to confirm').fill('core')
    await d.getByRole('button', { name: 'Delete team', exact: true }).click()
    await expect.poll(() => d.locator('[data-code="not_empty"]').innerText()).toContain('The team still has 1 project: delete it first.')
    await fits375(page, 'delete dialog with the 409 message')
    await screenshot(page, 'lifecycle-team-not-empty-phone')
    await d.getByRole('button', { name: 'Cancel' }).click()
    expect(await page.locator('dialog[open]').count()).toBe(0)
    expect(await status(`/v1/teams/${ids.core}`)).toBe(200)

    await page.getByRole('button', { name: 'Delete team Spare' }).click()
    await dialog(page).getByLabel('Type spare to confirm').fill('spare')
    await dialog(page).getByRole('button', { name: 'Delete team', exact: true }).click()
    await expect.poll(() => page.locator('main').innerText()).toContain('Team “Spare” deleted.')
    await expect.poll(() => options(page, 'switch-team')).toEqual(['Core Platform (core)'])
    expect(await status(`/v1/teams/${ids.spare}`)).toBe(404)

    await openAdmin(page, 'tenants')
    await page.getByRole('button', { name: 'Delete tenant Globex' }).click()
    await dialog(page).getByLabel('Type globex to confirm').fill('globex')
    await dialog(page).getByRole('button', { name: 'Delete tenant', exact: true }).click()
    await expect.poll(() => page.locator('main').innerText()).toContain('Tenant “Globex” deleted.')
    await expect.poll(() => options(page, 'switch-tenant')).toEqual(['Acme (acme)'])
    expect(await status(`/v1/tenants/${ids.globex}`)).toBe(404)
    for (const name of ['tenants', 'teams', 'projects']) {
      await openAdmin(page, name)
      await fits375(page, `admin ${name}`)
    }
    expect(unexpected(admin)).toEqual([])
  })

  it('a project viewer sees no rename or delete control; a project admin may rename its project but not delete it', async () => {
    const viewer = await phoneTab()
    await ssoSignIn(viewer.page, VIEWER)
    for (const name of ['tenants', 'teams', 'projects']) {
      await openAdmin(viewer.page, name)
      expect(await viewer.page.locator('[data-edit]').count(), `viewer on ${name}`).toBe(0)
      expect(await viewer.page.getByRole('button', { name: /^(Rename|Delete) / }).count(), `viewer on ${name}`).toBe(0)
      await fits375(viewer.page, `viewer ${name}`)
    }
    expect(await viewer.page.locator('table[aria-label="Projects"]').innerText()).toContain('Alpha Prime')
    expect(unexpected(viewer)).toEqual([])

    const owner = await phoneTab()
    await ssoSignIn(owner.page, OWNER)
    await openAdmin(owner.page, 'projects')
    await expect.poll(() => owner.page.getByRole('button', { name: 'Rename project Alpha Prime' }).count()).toBe(1)
    expect(await owner.page.getByRole('button', { name: /^Delete / }).count()).toBe(0)
    for (const name of ['tenants', 'teams']) {
      await openAdmin(owner.page, name)
      expect(await owner.page.getByRole('button', { name: /^(Rename|Delete) / }).count(), `project admin on ${name}`).toBe(0)
    }
    expect(unexpected(owner)).toEqual([])
  })
})
