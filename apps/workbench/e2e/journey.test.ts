/**
 * The "done when" as one journey, in a real browser against a real control plane and a real
 * `oidc-provider` on loopback:
 *
 *   the bootstrap system admin (setup link, local login) creates tenant Acme (and Globex, to show confinement)
 *   and registers Acme's OIDC provider with the IdP group `acme-admins` mapped to `tenant_admin`; then
 *   1. a user the control plane has never seen signs in through the login page's SSO button and is provisioned
 *      just in time as tenant_admin of Acme;
 *   2. that user creates a team and two projects through the pages and invites three people by e-mail:
 *      project_editor and project_viewer of project 1 (Alpha), project_admin of project 2 (Beta);
 *   3. each of them signs in through the same IdP, and the browser shows exactly their permissions: which
 *      admin pages carry edit controls is derived from policy/permissions.json, plus the specific checks
 *      (editor: no member / API-key / limits / settings controls, worker tokens yes; viewer: read-only; the
 *      Beta admin edits Beta's settings and limits and never sees Alpha, whose URL answers "not found");
 *   4. through the API, with the access token each page itself sends, a table of control-plane calls per user
 *      whose expected statuses come from the matrix (allowed → 2xx, related but not allowed → 403, not on the
 *      caller's branch → 404).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Account, TestOidcIdp } from '../../../packages/control-plane/src/test-support/oidc-idp'
import { type ControlPlane, startControlPlane } from './control-plane'
import { adminPages } from './admin-pages'
import { launchBrowser, openPage, REPO_ROOT, screenshot, type TestPage } from './harness'

const ADMIN = { email: 'root@cfp.test', password: 'correct-horse-battery-staple' }
const ADMIN_GROUP = 'acme-admins'
const OWNER: Account = { sub: 'olivia-7', email: 'olivia@acme.example', name: 'Olivia Owner', groups: [ADMIN_GROUP, 'unmapped'] }
const EDITOR: Account = { sub: 'eddie-7', email: 'eddie@acme.example', name: 'Eddie Editor', groups: ['unmapped'] }
const VIEWER: Account = { sub: 'vera-7', email: 'vera@acme.example', name: 'Vera Viewer', groups: [] }
const BETA_ADMIN: Account = { sub: 'bart-7', email: 'bart@acme.example', name: 'Bart Beta', groups: [] }
const PAGES = ['tenants', 'teams', 'projects', 'members', 'access', 'credentials', 'limits', 'settings'] as const
type PageName = (typeof PAGES)[number]

// ---------- the matrix, evaluated independently of the product's evaluators ----------

interface Policy {
  actions: Record<string, { targets: string[]; plane: string }>
  grants: Record<string, Record<string, string[]>>
}
const POLICY = JSON.parse(readFileSync(join(REPO_ROOT, 'policy', 'permissions.json'), 'utf8')) as Policy

interface Path {
  tenant?: string
  team?: string
  project?: string
}
interface Binding {
  role: string
  scope: Path
}
const LEVELS = ['tenant', 'team', 'project'] as const
const depth = (p: Path) => (p.project ? 3 : p.team ? 2 : p.tenant ? 1 : 0)
const kindOf = (p: Path) => ['system', 'tenant', 'team', 'project'][depth(p)]!

function relation(b: Path, t: Path): 'self' | 'ancestor' | 'descendant' | null {
  for (let i = 0; i < Math.min(depth(b), depth(t)); i++) if (b[LEVELS[i]!] !== t[LEVELS[i]!]) return null
  return depth(b) === depth(t) ? 'self' : depth(b) < depth(t) ? 'ancestor' : 'descendant'
}

/** An SSO session is confined to its IdP's tenant: nothing of another tenant is related or allowed. */
interface Who {
  tenantId: string
  bindings: Binding[]
}
const confined = (w: Who, t: Path) => t.tenant === undefined || t.tenant === w.tenantId
const allows = (w: Who, action: string, t: Path) =>
  POLICY.actions[action]!.targets.includes(kindOf(t)) &&
  confined(w, t) &&
  w.bindings.some((b) => {
    const rel = relation(b.scope, t)
    return rel !== null && (POLICY.grants[b.role]?.[action]?.includes(rel) ?? false)
  })
const related = (w: Who, t: Path) => confined(w, t) && w.bindings.some((b) => relation(b.scope, t) !== null)
/** docs/control-plane.md: allowed → 2xx; sees the target but lacks the action → 403; otherwise 404. */
const expectedStatus = (w: Who, action: string, t: Path): '2xx' | 403 | 404 => (allows(w, action, t) ? '2xx' : related(w, t) ? 403 : 404)

// ---------- processes ----------

let cp: ControlPlane
let browser: Browser
const idp = new TestOidcIdp()
const tabs: TestPage[] = []
let adminToken: string
let idpId: string
const ids = { acme: '', globex: '', team: '', alpha: '', beta: '', globexProject: '' }
/** Per user: their tab and the bearer token their page last sent to /v1 (the SPA keeps it in memory only). */
const users = new Map<string, { tab: TestPage; token: () => string; who: Who }>()

const { app, openAdmin } = adminPages(() => cp)

async function cleanup(): Promise<void> {
  const steps: Array<() => Promise<unknown> | undefined> = [...tabs.map((t) => () => t.close()), () => browser?.close(), () => idp.close(), () => cp?.stop()]
  for (const step of steps) await Promise.resolve(step()).catch(() => undefined)
  tabs.length = 0
}

beforeAll(async () => {
  cp = await startControlPlane()
  try {
    await idp.start()
    browser = await launchBrowser()
  } catch (e) {
    await cleanup()
    throw e
  }
}, 120_000)

afterAll(cleanup, 60_000)

/** A fresh browser context that records the bearer token its page sends to the control plane. */
async function tab(viewport: 'phone' | 'desktop'): Promise<{ t: TestPage; token: () => string }> {
  const t = await openPage(browser, viewport)
  tabs.push(t)
  let last = ''
  t.page.on('request', (req) => {
    const auth = req.headers().authorization
    if (auth?.startsWith('Bearer ') && req.url().startsWith(`${cp.url}/v1/`)) last = auth.slice(7)
  })
  return {
    t,
    token: () => {
      if (!last) throw new Error('the page has sent no access token yet')
      return last
    },
  }
}

async function signInSso(t: TestPage, account: Account): Promise<void> {
  idp.nextAccount = account
  const { page } = t
  await page.goto(app('/login'))
  await page.getByLabel('Tenant').fill('acme')
  await page.getByRole('button', { name: 'Show sign-in options' }).click()
  await page.getByRole('link', { name: /Sign in with Acme SSO/ }).click()
  await page.waitForURL(/\/__cfp\/admin\/tenants/, { timeout: 30_000 })
  await page.locator('.switcher[data-ready="true"]').waitFor({ timeout: 15_000 })
}

async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${cp.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  const text = await res.text()
  return { status: res.status, json: text ? JSON.parse(text) : undefined }
}

const sortBindings = (bs: Binding[]) =>
  [...bs].map((b) => ({ role: b.role, scope: { ...b.scope } })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))

/** Which admin pages should carry edit controls (`data-edit`) for a user, from the matrix and the selection. */
function editablePages(w: Who, project: Path): Record<PageName, boolean> {
  const tenant = { tenant: project.tenant }
  const team = { tenant: project.tenant, team: project.team }
  const a = (action: string, t: Path) => allows(w, action, t)
  return {
    // create, and rename or delete on each row (the user's own tenant, team and project are the rows shown)
    tenants: a('tenant.create', {}) || a('tenant.update', tenant) || a('tenant.delete', tenant),
    teams: a('team.create', tenant) || a('team.update', team) || a('team.delete', team),
    projects: a('project.create', team) || a('project.update', project) || a('project.delete', project),
    members: a('member.invite', tenant) || (a('member.read', tenant) && a('member.remove', tenant)),
    access: a('rolebinding.create', project),
    credentials: a('apikey.create', project) || a('workertoken.create', project),
    limits: a('limits.update', tenant) || a('limits.update', project),
    settings: a('cors.update', project) || a('validation.update', project) || a('diagnostics.update', project),
  }
}

/** Console errors other than the not-found the test provokes on purpose. */
const unexpected = (t: TestPage, allowed?: RegExp) => t.errors.filter((e) => !allowed?.test(e))

describe('journey: SSO sign-up, a tenant set up through the pages, each role exactly its permissions', () => {
  it('the bootstrap admin (setup link, local login) creates tenants and Acme’s OIDC provider with a group mapping', async () => {
    const token = new URL(cp.setupUrl).searchParams.get('token')
    await cp.api('POST', '/v1/setup', { token, ...ADMIN, displayName: 'Root' })
    adminToken = (await cp.api<{ access_token: string }>('POST', '/v1/auth/login', ADMIN)).access_token
    ids.acme = (await cp.api<{ id: string }>('POST', '/v1/tenants', { name: 'Acme', slug: 'acme', region: 'local' }, adminToken)).id
    ids.globex = (await cp.api<{ id: string }>('POST', '/v1/tenants', { name: 'Globex', slug: 'globex', region: 'local' }, adminToken)).id
    const gTeam = await cp.api<{ id: string }>('POST', `/v1/tenants/${ids.globex}/teams`, { name: 'Ops', slug: 'ops' }, adminToken)
    ids.globexProject = (await cp.api<{ id: string }>('POST', `/v1/teams/${gTeam.id}/projects`, { name: 'Secret', slug: 'secret' }, adminToken)).id

    const created = await cp.api<{ id: string; callbackUrl: string }>(
      'POST',
      `/v1/tenants/${ids.acme}/idps`,
      { kind: 'oidc', name: 'Acme SSO', clientSecret: idp.clientSecret, oidc: { issuer: idp.issuer, clientId: idp.clientId, scopes: ['groups'] } },
      adminToken,
    )
    idpId = created.id
    await idp.configure(created.callbackUrl)
    await cp.api('PUT', `/v1/idps/${idpId}/group-mappings`, { mappings: [{ group: ADMIN_GROUP, role: 'tenant_admin' }] }, adminToken)

    const known = await cp.api<{ items: { email: string }[] }>('GET', '/v1/users', undefined, adminToken)
    expect(known.items.map((u) => u.email)).toEqual([ADMIN.email])
  })

  it('1. a user never seen before signs in through the SSO button and is provisioned as tenant_admin of Acme', async () => {
    const { t, token } = await tab('desktop')
    await signInSso(t, OWNER)
    const { page } = t
    // the session is confined to Acme: Globex is not offered
    await expect.poll(() => page.locator('#switch-tenant option').allInnerTexts()).toEqual(['Acme (acme)'])
    const me = await call('GET', '/v1/me', token())
    expect(me.status).toBe(200)
    expect(me.json.tenantId).toBe(ids.acme)
    expect(sortBindings(me.json.bindings)).toEqual([{ role: 'tenant_admin', scope: { tenant: ids.acme } }])
    const all = await cp.api<{ items: { email: string }[] }>('GET', '/v1/users', undefined, adminToken)
    expect(all.items.map((u) => u.email).sort()).toEqual([OWNER.email, ADMIN.email].sort())
    // no access token in storage, only this tab's refresh token
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }))
    expect(stored).not.toMatch(/eyJ[\w-]+\.eyJ/)
    users.set('tenant_admin', { tab: t, token, who: { tenantId: ids.acme, bindings: me.json.bindings } })
  })

  it('2. the new tenant admin creates a team and two projects through the pages and invites three people with roles', async () => {
    const { page } = users.get('tenant_admin')!.tab
    await openAdmin(page, 'teams')
    await page.getByLabel('Name', { exact: true }).fill('Platform')
    await page.getByRole('button', { name: 'Create team' }).click()
    await expect.poll(() => page.locator('table[aria-label="Teams"]').innerText()).toContain('platform')

    await openAdmin(page, 'projects')
    for (const name of ['Alpha', 'Beta']) {
      await page.getByLabel('Name', { exact: true }).fill(name)
      await page.getByRole('button', { name: 'Create project' }).click()
      await expect.poll(() => page.locator('table[aria-label="Projects"]').innerText()).toContain(name.toLowerCase())
    }
    const teams = await cp.api<{ items: { id: string; slug: string }[] }>('GET', `/v1/tenants/${ids.acme}/teams`, undefined, adminToken)
    ids.team = teams.items.find((x) => x.slug === 'platform')!.id
    const projects = await cp.api<{ items: { id: string; slug: string }[] }>('GET', `/v1/teams/${ids.team}/projects`, undefined, adminToken)
    ids.alpha = projects.items.find((x) => x.slug === 'alpha')!.id
    ids.beta = projects.items.find((x) => x.slug === 'beta')!.id

    const invite = async (email: string, project: 'Alpha' | 'Beta', role: string) => {
      await openAdmin(page, 'projects')
      await page.locator('#switch-project').selectOption({ label: `${project} (${project.toLowerCase()})` })
      await expect.poll(() => page.locator('tr[aria-current="true"]').innerText()).toContain(project)
      await openAdmin(page, 'members')
      await page.getByLabel('E-mail', { exact: true }).fill(email)
      await page.getByLabel('At', { exact: true }).selectOption({ label: `Project ${project}` })
      // a tenant admin may grant every project role at a project
      expect(await page.locator('#invite-role option').allInnerTexts()).toEqual(['no role yet', 'project_admin', 'project_editor', 'project_viewer'])
      await page.getByLabel('Role (optional)').selectOption(role)
      await page.getByRole('button', { name: 'Add member' }).click()
      await expect.poll(() => page.locator('main').innerText()).toContain(`${email} was added as ${role}.`)
      await expect.poll(() => page.locator('table[aria-label="Members"]').innerText()).toContain(email)
    }
    await invite(EDITOR.email, 'Alpha', 'project_editor')
    await invite(VIEWER.email, 'Alpha', 'project_viewer')
    await invite(BETA_ADMIN.email, 'Beta', 'project_admin')

    // the Access page lists the bindings at each project
    await openAdmin(page, 'access')
    const betaBindings = await page.locator('table[aria-label="Role bindings"]').innerText()
    expect(betaBindings).toContain(BETA_ADMIN.email)
    expect(betaBindings).not.toContain(EDITOR.email)
    await page.locator('#switch-project').selectOption({ label: 'Alpha (alpha)' })
    await expect.poll(() => page.locator('table[aria-label="Role bindings"]').innerText()).toContain(EDITOR.email)
    expect(await page.locator('table[aria-label="Role bindings"]').innerText()).toContain(VIEWER.email)
    expect(unexpected(users.get('tenant_admin')!.tab)).toEqual([])
  })

  const alphaPath = () => ({ tenant: ids.acme, team: ids.team, project: ids.alpha })
  const betaPath = () => ({ tenant: ids.acme, team: ids.team, project: ids.beta })
  const invited = [
    { key: 'project_editor', account: EDITOR, viewport: 'desktop' as const, project: 'Alpha', path: alphaPath },
    { key: 'project_viewer', account: VIEWER, viewport: 'phone' as const, project: 'Alpha', path: alphaPath },
    { key: 'project_admin', account: BETA_ADMIN, viewport: 'desktop' as const, project: 'Beta', path: betaPath },
  ]

  it('3. each invited user signs in through the IdP and sees exactly the edit controls the matrix gives them', async () => {
    for (const u of invited) {
      const { t, token } = await tab(u.viewport)
      await signInSso(t, u.account)
      const { page } = t
      const me = await call('GET', '/v1/me', token())
      expect(me.json.tenantId).toBe(ids.acme)
      expect(sortBindings(me.json.bindings), u.key).toEqual([{ role: u.key, scope: u.path() }])
      const who: Who = { tenantId: ids.acme, bindings: me.json.bindings }
      users.set(u.key, { tab: t, token, who })

      // the switcher holds only what they may read
      await expect.poll(() => page.locator('#switch-tenant option').allInnerTexts(), { message: u.key }).toEqual(['Acme (acme)'])
      await expect.poll(() => page.locator('#switch-team option').allInnerTexts(), { message: u.key }).toEqual(['Platform (platform)'])
      await expect.poll(() => page.locator('#switch-project option').allInnerTexts(), { message: u.key }).toEqual([`${u.project} (${u.project.toLowerCase()})`])

      const expected = editablePages(who, u.path())
      const seen: Record<string, boolean> = {}
      for (const name of PAGES) {
        await openAdmin(page, name)
        seen[name] = (await page.locator('[data-edit]').count()) > 0
        await screenshot(page, `journey-${u.key}-${name}-${u.viewport}`)
      }
      expect(seen, `${u.key}: pages with edit controls`).toEqual(expected)
    }

    // the editor: project Alpha, no member / API-key / limits / settings controls, but worker tokens (matrix: S)
    {
      const { page } = users.get('project_editor')!.tab
      await openAdmin(page, 'members')
      expect(await page.locator('main').innerText()).toContain('Members are not visible to you')
      expect(await page.locator('#invite-email').count()).toBe(0)
      await openAdmin(page, 'credentials')
      expect(await page.locator('#cred-apikeys-name').count()).toBe(0)
      expect(await page.locator('#cred-worker-tokens-name').count()).toBe(1)
      await openAdmin(page, 'limits')
      expect(await page.locator('#project-limits-maxBodyBytes, #tenant-limits-maxBodyBytes').count()).toBe(0)
      await openAdmin(page, 'settings')
      expect(await page.locator('#cors-origins').count()).toBe(0)
      expect(await page.locator('main').innerText()).toContain('Allowed origins')
      await page.goto(app(`/p/${ids.alpha}/flows`))
      await expect.poll(() => page.getByTestId('project-bar').innerText()).toContain('Alpha')
    }
    // the viewer: project Alpha read-only, values still shown
    {
      const { page } = users.get('project_viewer')!.tab
      await openAdmin(page, 'settings')
      expect(await page.locator('main').innerText()).toContain('Allowed origins')
      await openAdmin(page, 'credentials')
      expect(await page.locator('main').innerText()).toContain("Your role bindings do not include reading this project's api keys")
      await openAdmin(page, 'access')
      expect(await page.locator('table[aria-label="Role bindings"]').innerText()).toContain('project_viewer')
    }
    // the Beta admin: Beta's settings and limits editable (and saved), Alpha nowhere, its URL "not found"
    {
      const t = users.get('project_admin')!.tab
      const { page } = t
      await openAdmin(page, 'settings')
      await page.locator('#cors-origins').fill('https://beta.example.com')
      await page.getByRole('button', { name: 'Save CORS' }).click()
      await expect.poll(() => page.locator('main').innerText()).toContain('CORS saved.')
      await openAdmin(page, 'limits')
      expect(await page.locator('#tenant-limits-maxBodyBytes').count()).toBe(0)
      await page.locator('#project-limits-maxBodyBytes').fill('65536')
      await page.getByRole('button', { name: 'Save limits' }).click()
      await expect.poll(() => page.locator('main').innerText()).toContain('Limits saved.')
      const settings = await cp.api<{ cors: { allowedOrigins: string[] }; limits: { maxBodyBytes?: number } }>(
        'GET',
        `/v1/projects/${ids.beta}/settings`,
        undefined,
        adminToken,
      )
      expect(settings.cors.allowedOrigins).toEqual(['https://beta.example.com'])
      expect(settings.limits.maxBodyBytes).toBe(65536)

      await page.goto(app(`/p/${ids.alpha}/flows`))
      await page.locator('[data-code="not_found"]').waitFor({ timeout: 15_000 })
      expect(await page.locator('main').innerText()).not.toContain('Alpha')
      await expect.poll(() => page.locator('#switch-project option').allInnerTexts()).toEqual(['Beta (beta)'])
      await page.goto(app(`/p/${ids.beta}/flows`))
      await expect.poll(() => page.getByTestId('project-bar').innerText()).toContain('Beta')
    }
    // the tenant admin's Members page lists everyone who signed in, with the name their IdP sent
    {
      const { page } = users.get('tenant_admin')!.tab
      await openAdmin(page, 'members')
      const rows = await page.locator('table[aria-label="Members"] tbody tr').allInnerTexts()
      for (const a of [OWNER, EDITOR, VIEWER, BETA_ADMIN]) {
        expect(
          rows.find((r) => r.includes(a.email)),
          a.email,
        ).toContain(a.name)
      }
    }
    for (const u of invited) {
      const allowed = u.key === 'project_admin' ? new RegExp(`/v1/projects/${ids.alpha}|status of 404`) : undefined
      expect(unexpected(users.get(u.key)!.tab, allowed), u.key).toEqual([])
    }
  })

  it('4. through the API with each page’s own access token, every call answers what the matrix says', async () => {
    let n = 0
    const uniq = () => `j${++n}`
    type Call = { label: string; method: string; path: string; action: string; target: Path; body?: () => unknown }
    const calls: Call[] = []
    for (const [name, p] of [
      ['p1', alphaPath()],
      ['p2', betaPath()],
    ] as const) {
      const id = p.project
      calls.push(
        { label: `GET /v1/projects/{${name}}`, method: 'GET', path: `/v1/projects/${id}`, action: 'project.read', target: p },
        { label: `GET /v1/projects/{${name}}/settings`, method: 'GET', path: `/v1/projects/${id}/settings`, action: 'project.read', target: p },
        {
          label: `PATCH /v1/projects/{${name}}`,
          method: 'PATCH',
          path: `/v1/projects/${id}`,
          action: 'project.update',
          target: p,
          body: () => ({ name: name === 'p1' ? 'Alpha' : 'Beta' }),
        },
        {
          label: `PUT /v1/projects/{${name}}/limits`,
          method: 'PUT',
          path: `/v1/projects/${id}/limits`,
          action: 'limits.update',
          target: p,
          body: () => ({ maxBodyBytes: 65536 }),
        },
        {
          label: `PUT /v1/projects/{${name}}/cors`,
          method: 'PUT',
          path: `/v1/projects/${id}/cors`,
          action: 'cors.update',
          target: p,
          body: () => ({ allowedOrigins: ['https://app.example.com'], allowCredentials: false }),
        },
        {
          label: `PUT /v1/projects/{${name}}/validation`,
          method: 'PUT',
          path: `/v1/projects/${id}/validation`,
          action: 'validation.update',
          target: p,
          body: () => ({ strict: false }),
        },
        {
          label: `PUT /v1/projects/{${name}}/diagnostics`,
          method: 'PUT',
          path: `/v1/projects/${id}/diagnostics`,
          action: 'diagnostics.update',
          target: p,
          body: () => ({ emit: false, stateWrite: false, dlqReplay: false, stepSource: false }),
        },
        { label: `GET /v1/projects/{${name}}/apikeys`, method: 'GET', path: `/v1/projects/${id}/apikeys`, action: 'apikey.read', target: p },
        {
          label: `POST /v1/projects/{${name}}/apikeys`,
          method: 'POST',
          path: `/v1/projects/${id}/apikeys`,
          action: 'apikey.create',
          target: p,
          body: () => ({ name: uniq(), role: 'project_viewer' }),
        },
        { label: `GET /v1/projects/{${name}}/worker-tokens`, method: 'GET', path: `/v1/projects/${id}/worker-tokens`, action: 'workertoken.read', target: p },
        {
          label: `POST /v1/projects/{${name}}/worker-tokens`,
          method: 'POST',
          path: `/v1/projects/${id}/worker-tokens`,
          action: 'workertoken.create',
          target: p,
          body: () => ({ name: uniq() }),
        },
        {
          label: `GET /v1/rolebindings?project={${name}}`,
          method: 'GET',
          path: `/v1/rolebindings?kind=project&id=${id}`,
          action: 'rolebinding.read',
          target: p,
        },
      )
    }
    const acme = { tenant: ids.acme }
    const team = { tenant: ids.acme, team: ids.team }
    calls.push(
      { label: 'GET /v1/tenants/{acme}', method: 'GET', path: `/v1/tenants/${ids.acme}`, action: 'tenant.read', target: acme },
      {
        label: 'PATCH /v1/tenants/{acme}',
        method: 'PATCH',
        path: `/v1/tenants/${ids.acme}`,
        action: 'tenant.update',
        target: acme,
        body: () => ({ name: 'Acme' }),
      },
      { label: 'GET /v1/tenants/{acme}/members', method: 'GET', path: `/v1/tenants/${ids.acme}/members`, action: 'member.read', target: acme },
      {
        label: 'POST /v1/tenants/{acme}/members',
        method: 'POST',
        path: `/v1/tenants/${ids.acme}/members`,
        action: 'member.invite',
        target: acme,
        body: () => ({ email: `${uniq()}@acme.example` }),
      },
      {
        label: 'PUT /v1/tenants/{acme}/limits',
        method: 'PUT',
        path: `/v1/tenants/${ids.acme}/limits`,
        action: 'limits.update',
        target: acme,
        body: () => ({}),
      },
      { label: 'GET /v1/tenants/{acme}/idps', method: 'GET', path: `/v1/tenants/${ids.acme}/idps`, action: 'idp.read', target: acme },
      {
        label: 'PUT /v1/idps/{acme sso}/group-mappings',
        method: 'PUT',
        path: `/v1/idps/${idpId}/group-mappings`,
        action: 'idp.manage',
        target: acme,
        body: () => ({ mappings: [{ group: ADMIN_GROUP, role: 'tenant_admin' }] }),
      },
      {
        label: 'GET /v1/rolebindings?tenant={acme}',
        method: 'GET',
        path: `/v1/rolebindings?kind=tenant&id=${ids.acme}`,
        action: 'rolebinding.read',
        target: acme,
      },
      {
        label: 'POST /v1/tenants/{acme}/teams',
        method: 'POST',
        path: `/v1/tenants/${ids.acme}/teams`,
        action: 'team.create',
        target: acme,
        body: () => ({ name: 'Extra', slug: uniq() }),
      },
      { label: 'GET /v1/teams/{team}', method: 'GET', path: `/v1/teams/${ids.team}`, action: 'team.read', target: team },
      {
        label: 'PATCH /v1/teams/{team}',
        method: 'PATCH',
        path: `/v1/teams/${ids.team}`,
        action: 'team.update',
        target: team,
        body: () => ({ name: 'Platform' }),
      },
      {
        label: 'POST /v1/teams/{team}/projects',
        method: 'POST',
        path: `/v1/teams/${ids.team}/projects`,
        action: 'project.create',
        target: team,
        body: () => ({ name: 'Extra', slug: uniq() }),
      },
      {
        label: 'POST /v1/tenants',
        method: 'POST',
        path: '/v1/tenants',
        action: 'tenant.create',
        target: {},
        body: () => ({ name: 'Nope', slug: uniq(), region: 'local' }),
      },
      { label: 'GET /v1/users', method: 'GET', path: '/v1/users', action: 'user.read', target: {} },
      { label: 'POST /v1/system/keys/rotate', method: 'POST', path: '/v1/system/keys/rotate', action: 'keys.rotate', target: {}, body: () => ({}) },
      // another tenant: nobody here may even learn that it exists
      { label: 'GET /v1/tenants/{globex}', method: 'GET', path: `/v1/tenants/${ids.globex}`, action: 'tenant.read', target: { tenant: ids.globex } },
      {
        label: 'GET /v1/projects/{globex project}',
        method: 'GET',
        path: `/v1/projects/${ids.globexProject}`,
        action: 'project.read',
        target: { tenant: ids.globex, team: '?', project: ids.globexProject },
      },
    )
    // every control-plane action of the matrix is exercised, except those without a route to call harmlessly
    // (deleting is tested in lifecycle.test.ts; audit retention and legal holds, which change what may be destroyed,
    // in packages/control-plane/src/audit/retention.test.ts)
    const notCalled = Object.entries(POLICY.actions)
      .filter(([a, d]) => d.plane === 'control' && !calls.some((c) => c.action === a))
      .map(([a]) => a)
      .sort()
    expect(notCalled).toEqual([
      'apikey.revoke',
      'audit.hold.place',
      'audit.hold.release',
      'audit.read',
      'audit.retention.write',
      'member.remove',
      'project.delete',
      'rolebinding.create',
      'rolebinding.delete',
      'team.delete',
      'tenant.delete',
      'workertoken.revoke',
    ])

    const roles = ['tenant_admin', 'project_editor', 'project_viewer', 'project_admin']
    const expected: Record<string, Record<string, string>> = {}
    const actual: Record<string, Record<string, string>> = {}
    for (const role of roles) {
      const u = users.get(role)!
      const token = u.token()
      expected[role] = {}
      actual[role] = {}
      for (const c of calls) {
        expected[role][c.label] = String(expectedStatus(u.who, c.action, c.target))
        const res = await call(c.method, c.path, token, c.body?.())
        actual[role][c.label] = res.status >= 200 && res.status < 300 ? '2xx' : String(res.status)
        // a refusal carries the documented error body
        if (res.status === 403) expect(res.json?.error?.code, `${role} ${c.label}`).toBe('forbidden')
        if (res.status === 404) expect(res.json?.error?.code, `${role} ${c.label}`).toBe('not_found')
      }
    }
    expect(actual).toEqual(expected)

    // the brief's examples, spelled out, so a change of the matrix that breaks the journey's promise is seen
    expect(actual.project_editor!['PUT /v1/projects/{p1}/limits']).toBe('403')
    expect(actual.project_editor!['GET /v1/projects/{p1}']).toBe('2xx')
    expect(actual.project_editor!['GET /v1/projects/{p2}']).toBe('404')
    expect(actual.project_viewer!['POST /v1/projects/{p1}/apikeys']).toBe('403')
    expect(actual.project_admin!['PUT /v1/projects/{p2}/cors']).toBe('2xx')
    expect(actual.project_admin!['GET /v1/projects/{p1}']).toBe('404')
    for (const c of calls.filter((c) => c.target.tenant === ids.acme)) expect(actual.tenant_admin![c.label], c.label).toBe('2xx')
  })
})
