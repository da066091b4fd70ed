/**
 * The Identity providers page against a real control plane and a real `oidc-provider` on loopback, all at
 * 375 px: the system admin adds an OIDC provider and its group mappings through the page (the API then has
 * them), a tenant auditor signed in through that provider sees it without any edit control, a tenant viewer
 * (no `idp.read`) sees neither; disabling takes it off the login page's sign-in buttons, deleting removes it
 * while the people it signed in stay members. A SAML provider's SP signing key is rotated on the page (published,
 * then activated), which the auditor sees without a button.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Account, TestOidcIdp } from '../../../packages/control-plane/src/test-support/oidc-idp'
import { type ControlPlane, startControlPlane } from './control-plane'
import { adminPages, fits375 } from './admin-pages'
import { launchBrowser, openPage, screenshot, type TestPage } from './harness'

const ADMIN = { email: 'root@cfp.test', password: 'correct-horse-battery-staple' }
const AUDITOR = { sub: 'auditor-1', email: 'auditor@corp.example', name: 'Ada Auditor', groups: ['auditors'] }
const VIEWER = { sub: 'viewer-1', email: 'viewer@corp.example', name: 'Vic Viewer', groups: ['viewers'] }

interface Idp {
  id: string
  name: string
  enabled: boolean
  config: Record<string, unknown>
  callbackUrl: string
  mappings: { group: string; role: string; teamId?: string; projectId?: string }[]
}

let cp: ControlPlane
let browser: Browser
const idp = new TestOidcIdp()
const tabs: TestPage[] = []
let admin: TestPage
let auditor: TestPage
let token: string
let tenantId: string
let teamId: string
let projectId: string
let idpId: string

beforeAll(async () => {
  cp = await startControlPlane()
  await idp.start()
  browser = await launchBrowser()
  await cp.api('POST', '/v1/setup', { token: new URL(cp.setupUrl).searchParams.get('token'), ...ADMIN, displayName: 'Root' })
  token = (await cp.api<{ access_token: string }>('POST', '/v1/auth/login', ADMIN)).access_token
  tenantId = (await cp.api<{ id: string }>('POST', '/v1/tenants', { slug: 'acme', name: 'Acme', region: 'local' }, token)).id
  teamId = (await cp.api<{ id: string }>('POST', `/v1/tenants/${tenantId}/teams`, { slug: 'core', name: 'Core' }, token)).id
  projectId = (await cp.api<{ id: string }>('POST', `/v1/teams/${teamId}/projects`, { slug: 'alpha', name: 'Alpha' }, token)).id
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

async function openIdps(page: Page): Promise<void> {
  await openAdmin(page, 'idps')
  await page.locator('h1', { hasText: 'Identity providers' }).waitFor()
}

/** Console errors other than the refused rename (409) the first test provokes on purpose. */
const unexpected = (t: TestPage) => t.errors.filter((e) => !/status of 409 \(Conflict\)/.test(e))

const getIdp = (id: string) => fetch(`${cp.url}/v1/idps/${id}`, { headers: { authorization: `Bearer ${token}` } })
const offered = async () => (await cp.api<{ items: { id: string }[] }>('GET', '/v1/auth/providers?tenant=acme')).items.map((i) => i.id)

describe('identity providers page', () => {
  it('the admin adds an OIDC provider and its group mappings through the page, at 375 px', async () => {
    admin = await phoneTab()
    const { page } = admin
    await page.goto(app('/login'))
    await page.getByLabel('E-mail', { exact: true }).fill(ADMIN.email)
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.waitForURL(/\/__cfp\/admin\/tenants/)
    await openIdps(page)
    await expect.poll(() => page.locator('main').innerText()).toContain('No identity providers yet')
    await fits375(page, 'empty page with the add form')

    const add = page.getByRole('form', { name: 'Add an identity provider' })
    await add.getByLabel('Protocol').selectOption('saml')
    expect(await add.getByLabel('IdP signing certificate (PEM)').count()).toBe(1)
    await fits375(page, 'SAML form')
    await add.getByLabel('Protocol').selectOption('oidc')
    await add.getByLabel('Name', { exact: true }).fill('Corp')
    await add.getByLabel('Issuer').fill(idp.issuer)
    await add.getByLabel('Client ID').fill(idp.clientId)
    await add.getByLabel('Client secret').fill(idp.clientSecret)
    await add.getByLabel('Extra scopes').fill('groups')
    await add.getByRole('button', { name: 'Add provider' }).click()
    await expect.poll(() => page.locator('main').innerText()).toContain('“Corp” added')
    const card = page.locator('section', { has: page.getByRole('heading', { name: 'Corp', exact: true }) })
    await expect.poll(() => card.locator('[data-testid="idp-status"]').innerText()).toBe('enabled')

    // the redirect URL to register at the IdP is on the page, with a copy button
    const urls = await card.locator('.copyable code').allInnerTexts()
    const callbackUrl = urls.find((u) => u.endsWith('/callback'))!
    expect(callbackUrl).toMatch(new RegExp(`^${cp.url}/v1/auth/oidc/[0-9a-f-]{36}/callback$`))
    expect(await card.getByRole('button', { name: /Copy the Redirect \(callback\) URL/ }).count()).toBe(1)
    idpId = /oidc\/([0-9a-f-]{36})\//.exec(callbackUrl)![1]!
    await idp.configure(callbackUrl)

    await card.getByRole('button', { name: 'Edit mappings' }).click()
    const editor = page.getByRole('form', { name: 'Edit group mappings of Corp' })
    for (let i = 0; i < 3; i++) await editor.getByRole('button', { name: 'Add a mapping' }).click()
    const groups = editor.getByLabel('IdP group')
    const roles = editor.getByLabel('Role', { exact: true })
    await groups.nth(0).fill('auditors')
    await roles.nth(0).selectOption('auditor')
    await groups.nth(1).fill('viewers')
    await roles.nth(1).selectOption('tenant_viewer')
    await groups.nth(2).fill('alpha-devs')
    await editor.getByLabel('Team', { exact: true }).nth(2).selectOption({ label: 'Core' })
    await editor.getByLabel('Project', { exact: true }).nth(2).selectOption({ label: 'Alpha' })
    // only roles bindable at a project are offered there
    expect(await roles.nth(2).locator('option').allInnerTexts()).toEqual(['choose…', 'project_admin', 'project_editor', 'project_viewer'])
    await roles.nth(2).selectOption('project_editor')
    await fits375(page, 'mappings editor')
    await screenshot(page, 'admin-idps-mappings-phone')
    await editor.getByRole('button', { name: 'Save mappings' }).click()
    await expect.poll(() => card.innerText()).toContain('Group mappings saved.')
    await expect.poll(() => card.getByRole('table', { name: 'Group mappings of Corp' }).innerText()).toContain('Project Alpha (Core)')
    await fits375(page, 'provider with mappings')
    await screenshot(page, 'admin-idps-phone')

    // edited through the form; a refusal is shown with the server's message
    const other = await cp.api<{ id: string }>(
      'POST',
      `/v1/tenants/${tenantId}/idps`,
      { kind: 'saml', name: 'Other', saml: { ssoUrl: 'https://idp.example.test/sso', idpEntityId: 'other', idpCertificate: 'PEM' } },
      token,
    )
    await card.getByRole('button', { name: 'Edit', exact: true }).click()
    const edit = page.getByRole('form', { name: 'Edit Corp' })
    expect(await edit.getByLabel('Client ID').inputValue()).toBe(idp.clientId)
    await edit.getByLabel('Name', { exact: true }).fill('Other')
    await edit.getByRole('button', { name: 'Save provider' }).click()
    await expect.poll(() => edit.locator('[data-code="conflict"]').innerText()).toContain('an identity provider with this name exists')
    await edit.getByLabel('Name', { exact: true }).fill('Corp')
    await edit.getByLabel('Groups claim').fill('groups')
    await edit.getByRole('button', { name: 'Save provider' }).click()
    await expect.poll(() => card.innerText()).toContain('Provider saved.')
    // the reloaded page shows "Other" too and reads its SAML signing keys: deleted only after that (else a 404)
    await expect.poll(() => page.getByRole('table', { name: 'SP signing keys of Other' }).count()).toBe(1)
    expect((await fetch(`${cp.url}/v1/idps/${other.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBe(204)

    const saved = (await (await getIdp(idpId)).json()) as Idp
    expect(saved).toMatchObject({ name: 'Corp', enabled: true, callbackUrl })
    expect(saved.config).toEqual({ issuer: idp.issuer, clientId: idp.clientId, scopes: ['groups'], groupsClaim: 'groups' })
    expect(saved.mappings).toEqual(
      expect.arrayContaining([
        { group: 'auditors', role: 'auditor' },
        { group: 'viewers', role: 'tenant_viewer' },
        { group: 'alpha-devs', role: 'project_editor', teamId, projectId },
      ]),
    )
    expect(saved.mappings).toHaveLength(3)
    expect(JSON.stringify(saved)).not.toContain(idp.clientSecret)
    expect(await offered()).toEqual([idpId])
    expect(unexpected(admin)).toEqual([])
  })

  it('an auditor signed in through it sees the provider and no edit control; a tenant viewer sees neither', async () => {
    auditor = await phoneTab()
    await ssoSignIn(auditor.page, AUDITOR)
    await openIdps(auditor.page)
    const main = auditor.page.locator('main')
    await expect.poll(() => auditor.page.getByRole('table', { name: 'Group mappings of Corp' }).innerText()).toContain('auditors')
    expect(await main.innerText()).toContain(idp.issuer)
    expect(await main.locator('.copyable code').allInnerTexts()).toContain(`${cp.url}/v1/auth/oidc/${idpId}/callback`)
    expect(await auditor.page.locator('[data-edit]').count()).toBe(0)
    expect(await main.getByRole('button', { name: /Disable|Edit|Delete|Add provider/ }).count()).toBe(0)
    await fits375(auditor.page, 'auditor')
    await screenshot(auditor.page, 'admin-idps-auditor-phone')

    const viewer = await phoneTab()
    await ssoSignIn(viewer.page, VIEWER)
    await openIdps(viewer.page)
    await expect.poll(() => viewer.page.locator('main').innerText()).toContain('Identity providers are not visible to you')
    expect(await viewer.page.locator('main').innerText()).not.toContain(idp.issuer)
    expect(await viewer.page.locator('[data-edit]').count()).toBe(0)
    await fits375(viewer.page, 'tenant viewer')
    expect([...auditor.errors, ...viewer.errors]).toEqual([])
  })

  it('disabling takes it off the login page; deleting removes it, and the people it signed in stay members', async () => {
    const { page } = admin
    await openIdps(page)
    const card = page.locator('section', { has: page.getByRole('heading', { name: 'Corp', exact: true }) })
    await card.getByRole('button', { name: 'Disable' }).click()
    await expect.poll(() => card.locator('[data-testid="idp-status"]').innerText()).toBe('disabled')
    expect(((await (await getIdp(idpId)).json()) as Idp).enabled).toBe(false)
    expect(await offered()).toEqual([])
    expect((await fetch(`${cp.url}/v1/auth/oidc/${idpId}/login`, { redirect: 'manual' })).status).toBe(404)

    const login = await phoneTab()
    await login.page.goto(app('/login'))
    await login.page.getByLabel('Tenant').fill('acme')
    await login.page.getByRole('button', { name: 'Show sign-in options' }).click()
    await expect.poll(() => login.page.locator('body').innerText()).toContain('No single sign-on is set up for “acme”')
    expect(await login.page.getByRole('link', { name: /Sign in with Corp/ }).count()).toBe(0)

    await card.getByRole('button', { name: 'Delete' }).click()
    const dialog = page.getByRole('dialog')
    expect(await dialog.innerText()).toContain('keep their accounts and role bindings')
    await dialog.getByRole('button', { name: 'Delete' }).click()
    await expect.poll(() => page.locator('main').innerText()).toContain('No identity providers yet')
    expect((await getIdp(idpId)).status).toBe(404)
    const members = await cp.api<{ items: { email: string }[] }>('GET', `/v1/tenants/${tenantId}/members`, undefined, token)
    expect(members.items.map((m) => m.email)).toEqual(expect.arrayContaining([AUDITOR.email, VIEWER.email]))
    expect([...unexpected(admin), ...login.errors]).toEqual([])
  })

  it("a SAML provider's SP signing key is rotated on the page; the auditor sees the keys and no button", async () => {
    const saml = await cp.api<{ id: string }>(
      'POST',
      `/v1/tenants/${tenantId}/idps`,
      { kind: 'saml', name: 'Corp SAML', saml: { ssoUrl: 'https://idp.example.test/sso', idpEntityId: 'corp-saml', idpCertificate: 'PEM' } },
      token,
    )
    const keys = async () =>
      (await cp.api<{ items: { state: string; fingerprintSha256: string }[] }>('GET', `/v1/idps/${saml.id}/saml/signing-keys`, undefined, token)).items
    const certificates = async () => ((await (await fetch(`${cp.url}/v1/auth/saml/${saml.id}/metadata`)).text()).match(/<ds:X509Certificate>/g) ?? []).length
    const { page } = admin
    await openIdps(page)
    const card = page.locator('section', { has: page.getByRole('heading', { name: 'Corp SAML', exact: true }) })
    const table = card.getByRole('table', { name: 'SP signing keys of Corp SAML' })
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1)
    const [old] = await keys()
    expect(await table.locator('tr[data-state="current"]').innerText()).toContain(old!.fingerprintSha256)
    expect(await certificates()).toBe(1)

    await card.getByRole('button', { name: 'Publish a new key' }).click()
    await expect.poll(() => card.innerText()).toContain('New key published in the metadata')
    await expect.poll(() => table.locator('tr[data-state="next"]').count()).toBe(1)
    const next = (await keys()).find((k) => k.state === 'next')!
    expect(await certificates()).toBe(2)
    await fits375(page, 'SP signing keys during a rotation')
    await card.getByRole('button', { name: 'Activate the new key' }).click()
    const dialog = page.getByRole('dialog')
    expect(await dialog.innerText()).toContain(next.fingerprintSha256)
    await dialog.getByRole('button', { name: 'Activate', exact: true }).click()
    await expect.poll(() => card.innerText()).toContain('The new key signs from now on')
    await expect.poll(() => table.locator('tr[data-state="current"]').innerText()).toContain(next.fingerprintSha256)
    expect(await table.locator('tr[data-state="previous"]').innerText()).toContain(old!.fingerprintSha256)
    expect((await keys()).map((k) => [k.state, k.fingerprintSha256])).toEqual([
      ['current', next.fingerprintSha256],
      ['previous', old!.fingerprintSha256],
    ])
    expect(await card.getByRole('button', { name: 'Publish a new key' }).count()).toBe(1)
    await screenshot(page, 'admin-idps-saml-keys-phone')

    await openIdps(auditor.page)
    const seen = auditor.page.getByRole('table', { name: 'SP signing keys of Corp SAML' })
    await expect.poll(() => seen.innerText()).toContain(next.fingerprintSha256)
    expect(await auditor.page.locator('[data-edit]').count()).toBe(0)
    expect(await auditor.page.getByRole('button', { name: /Publish a new key|Activate/ }).count()).toBe(0)
    expect([...unexpected(admin), ...auditor.errors]).toEqual([])
  })
})
