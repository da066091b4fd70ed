/**
 * The runtime pages served by the control plane: a real control plane (`--runtime-urls local=<runtime>`), the
 * real debug runtime trusting its tokens (`--workbench-origins <control plane>`), and a real worker hosting
 * examples/hello for a project created through the control plane's API. In the browser the admin signs in, opens
 * the project's Flows page from the switcher and sees the hello flow, calls POST /hello from the Endpoints page
 * (the project's CORS allowlist names the control plane) and finds its log line on the Logs page; a
 * `project_viewer` (SSO through a real `oidc-provider`) reads the logs but gets no send / replay controls;
 * every runtime page fits 375 px; a project of a region without a runtime says so.
 */
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TestOidcIdp } from '../../../packages/control-plane/src/test-support/oidc-idp'
import { type ControlPlane, startControlPlane } from './control-plane'
import { copyProject, freePort, horizontalOverflow, launchBrowser, openPage, REPO_ROOT, screenshot, type TestPage } from './harness'
import { type Proc, type RemoteRuntime, startRemoteRuntime, startWorker } from './runtime'

const ADMIN = { email: 'root@cfp.test', password: 'correct-horse-battery-staple' }
const VIEWER = { sub: 'viewer-rt', email: 'viewer@corp.example', name: 'Vera Viewer', groups: [] as string[] }
const HELLO_STEPS = ['HelloApi', 'ProcessGreeting', 'LogGreeting', 'GreetingReport', 'ManualReview']
// no layout file on this runtime (404 layout_unavailable, explained on the page); streams are optional
const OPTIONAL = /\/__cfp\/api\/(layout|streams)/
const PAGES = [
  { name: 'flows', path: 'flows', ready: (p: Page) => p.locator('.react-flow__node').first().waitFor() },
  { name: 'endpoints', path: 'endpoints?step=HelloApi', ready: (p: Page) => p.locator('textarea[name="body"]').waitFor() },
  { name: 'logs', path: 'logs', ready: (p: Page) => p.getByTestId('log-line').first().waitFor() },
  { name: 'traces', path: 'traces', ready: (p: Page) => p.getByTestId('trace-row').first().waitFor() },
  { name: 'state', path: 'state', ready: (p: Page) => p.getByRole('heading', { name: 'State' }).waitFor() },
  { name: 'streams', path: 'streams', ready: (p: Page) => p.getByRole('heading', { name: 'Streams' }).waitFor() },
  { name: 'queues', path: 'queues', ready: (p: Page) => p.getByRole('heading', { name: 'Per step' }).waitFor() },
  // a step without an SLO: an admin gets "Add an SLO" (slo.write), a viewer only reads
  { name: 'metrics', path: 'metrics/ProcessGreeting', ready: (p: Page) => p.getByTestId('no-slo').waitFor() },
] as const

let cp: ControlPlane
let runtime: RemoteRuntime | undefined
let worker: Proc | undefined
let projectDir: string | undefined
let browser: Browser
const idp = new TestOidcIdp()
const tabs: TestPage[] = []
let projectId: string
let farProjectId: string
let greeted: string

const app = (path: string) => `${cp.url}/__cfp/${path.replace(/^\//, '')}`

async function tab(viewport: 'phone' | 'desktop'): Promise<TestPage> {
  const t = await openPage(browser, viewport, { optional: OPTIONAL })
  tabs.push(t)
  return t
}

beforeAll(async () => {
  const serviceToken = randomBytes(24).toString('hex')
  // the control plane names the runtime's URL and the runtime names the control plane's: the runtime's port is
  // chosen first (as the control-plane helper does for its own), the runtime starts once the control plane is up
  const runtimePort = await freePort()
  cp = await startControlPlane({
    extraArgs: ['--runtime-urls', `local=http://127.0.0.1:${runtimePort}`, '--service-token', serviceToken, '--regions', 'local,eu'],
  })
  try {
    const setup = new URL(cp.setupUrl).searchParams.get('token')
    await cp.api('POST', '/v1/setup', { token: setup, ...ADMIN, displayName: 'Root' })
    const { access_token: at } = await cp.api<{ access_token: string }>('POST', '/v1/auth/login', ADMIN)
    const tenant = await cp.api<{ id: string }>('POST', '/v1/tenants', { name: 'Acme', slug: 'acme', region: 'local' }, at)
    const team = await cp.api<{ id: string }>('POST', `/v1/tenants/${tenant.id}/teams`, { name: 'Core', slug: 'core' }, at)
    projectId = (await cp.api<{ id: string }>('POST', `/v1/teams/${team.id}/projects`, { name: 'Hello', slug: 'hello' }, at)).id
    await cp.api('PUT', `/v1/projects/${projectId}/cors`, { allowedOrigins: [cp.url], allowCredentials: false }, at)
    const far = await cp.api<{ id: string }>('POST', '/v1/tenants', { name: 'Faraway', slug: 'faraway', region: 'eu' }, at)
    const farTeam = await cp.api<{ id: string }>('POST', `/v1/tenants/${far.id}/teams`, { name: 'Ops', slug: 'ops' }, at)
    farProjectId = (await cp.api<{ id: string }>('POST', `/v1/teams/${farTeam.id}/projects`, { name: 'Distant', slug: 'distant' }, at)).id

    // the viewer: a member of Acme with project_viewer on Hello, signing in through the tenant's OIDC provider
    await idp.start()
    const created = await cp.api<{ callbackUrl: string }>(
      'POST',
      `/v1/tenants/${tenant.id}/idps`,
      { kind: 'oidc', name: 'Corp', clientSecret: idp.clientSecret, oidc: { issuer: idp.issuer, clientId: idp.clientId } },
      at,
    )
    await idp.configure(created.callbackUrl)
    idp.nextAccount = VIEWER
    await cp.api('POST', `/v1/tenants/${tenant.id}/members`, { email: VIEWER.email, role: 'project_viewer', scope: { kind: 'project', id: projectId } }, at)

    runtime = await startRemoteRuntime({ port: runtimePort, controlPlaneUrl: cp.url, serviceToken, workbenchOrigin: cp.url })
    const wt = await cp.api<{ token: string }>('POST', `/v1/projects/${projectId}/worker-tokens`, { name: 'e2e worker' }, at)
    projectDir = copyProject(join(REPO_ROOT, 'examples', 'hello'), 'cp-hello')
    worker = await startWorker(projectDir, runtime.url, wt.token)
    browser = await launchBrowser()
  } catch (e) {
    await cleanup()
    throw e
  }
}, 240_000)

async function cleanup(): Promise<void> {
  const steps: Array<() => Promise<unknown> | undefined> = [
    ...tabs.map((t) => () => t.close()),
    () => browser?.close(),
    () => worker?.stop(),
    () => runtime?.stop(),
    () => idp.close(),
    () => cp?.stop(),
  ]
  for (const step of steps) await Promise.resolve(step()).catch(() => undefined)
  tabs.length = 0
  worker = undefined
  runtime = undefined
  if (projectDir) rmSync(projectDir, { recursive: true, force: true })
  projectDir = undefined
}

afterAll(cleanup, 60_000)

async function signInAdmin(t: TestPage): Promise<void> {
  await t.page.goto(app('/login'))
  await t.page.getByLabel('E-mail', { exact: true }).fill(ADMIN.email)
  await t.page.getByLabel('Password', { exact: true }).fill(ADMIN.password)
  await t.page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await t.page.waitForURL(/\/__cfp\/admin\/tenants/)
  await t.page.locator('.switcher[data-ready="true"]').waitFor()
}

async function openRuntimePage(page: Page, p: (typeof PAGES)[number], project = projectId): Promise<void> {
  await page.goto(app(`/p/${project}/${p.path}`))
  await p.ready(page)
  await page.waitForFunction(() => !document.querySelector('.loading'), undefined, { timeout: 15_000 })
}

describe('runtime pages served by the control plane', () => {
  it('GET /__cfp/control-plane names the runtime of each region; the shell may connect to it', async () => {
    const marker = (await (await fetch(app('/control-plane'))).json()) as { runtimes: Record<string, string> }
    expect(marker.runtimes).toEqual({ local: runtime!.url })
    const shell = await fetch(app('/p/x/flows'))
    expect(shell.headers.get('content-security-policy')).toContain(`connect-src 'self' ${runtime!.url};`)
  })

  it("the admin opens the project's Flows page from the switcher and sees the hello flow's steps", async () => {
    const t = await tab('desktop')
    await signInAdmin(t)
    const { page } = t
    await page.locator('#switch-tenant').selectOption({ label: 'Acme (acme)' })
    await page.locator('.switcher[data-ready="true"]').waitFor()
    await expect.poll(() => page.locator('#switch-project option').allInnerTexts()).toEqual(['Hello (hello)'])
    await page.getByTestId('open-runtime').click()
    await page.waitForURL(new RegExp(`/__cfp/p/${projectId}/flows`))
    await page.locator('.react-flow__node').first().waitFor({ timeout: 20_000 })
    for (const name of HELLO_STEPS) await expect.poll(() => page.locator(`[data-testid="rf__node-${name}"]`).count()).toBe(1)
    expect(await page.getByTestId('project-bar').innerText()).toContain(runtime!.url)
    await page.locator('.live--open').first().waitFor({ timeout: 20_000 })
    expect(t.errors).toEqual([])
  })

  it('the admin calls POST /hello from the Endpoints page and finds its log line on the Logs page', async () => {
    const t = await tab('desktop')
    await signInAdmin(t)
    const { page } = t
    greeted = `Ada-${randomBytes(3).toString('hex')}`
    await page.goto(app(`/p/${projectId}/endpoints?step=HelloApi`))
    expect(await page.getByTestId('request-url').innerText()).toBe(`${runtime!.url}/p/${projectId}/hello`)
    const body = page.locator('textarea[name="body"]')
    await body.waitFor()
    await body.fill(JSON.stringify({ name: greeted }))
    // the caller's token goes with a step call only when the call's box is ticked (off by default)
    const sendToken = page.getByRole('checkbox', { name: /Send my token with this call/ })
    expect(await sendToken.isChecked()).toBe(false)
    await sendToken.check()
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => page.getByTestId('response-status').textContent(), { timeout: 15_000 }).toBe('202')

    await page.goto(app(`/p/${projectId}/logs`))
    const line = page.getByTestId('log-line').filter({ hasText: 'Greeting received' }).filter({ hasText: greeted })
    await expect.poll(() => line.count(), { timeout: 20_000 }).toBeGreaterThan(0)
    // its trace link stays under the project and opens the timeline from the runtime
    const traceLink = line.first().locator('a[href*="/traces/"]')
    expect(await traceLink.getAttribute('href')).toMatch(new RegExp(`^/__cfp/p/${projectId}/traces/`))
    await traceLink.click()
    await page.getByTestId('span-row').first().waitFor({ timeout: 15_000 })
    expect(await page.locator('main').innerText()).toContain('ProcessGreeting')
    // the admin may invoke: the control is there
    await page.goto(app(`/p/${projectId}/endpoints?step=HelloApi`))
    await page.getByRole('button', { name: 'Send' }).waitFor()
    // and edit the project's SLOs
    await openRuntimePage(page, PAGES[7])
    await page.getByRole('button', { name: 'Add an SLO' }).waitFor()
    expect(t.errors).toEqual([])
  })

  it('a project_viewer reads the logs but gets no send or replay control, and every page fits 375 px', async () => {
    const t = await tab('phone')
    const v = t.page
    await v.goto(app('/login'))
    await v.getByLabel('Tenant').fill('acme')
    await v.getByRole('button', { name: 'Show sign-in options' }).click()
    await v.getByRole('link', { name: /Sign in with Corp/ }).click()
    await v.waitForURL(/\/__cfp\/admin\/tenants/, { timeout: 30_000 })

    await v.goto(app(`/p/${projectId}/logs`))
    const line = v.getByTestId('log-line').filter({ hasText: 'Greeting received' }).filter({ hasText: greeted })
    await expect.poll(() => line.count(), { timeout: 20_000 }).toBeGreaterThan(0)

    for (const p of PAGES) {
      await openRuntimePage(v, p)
      expect(await v.locator('[data-edit]').count(), `viewer on ${p.name}`).toBe(0)
      const o = await horizontalOverflow(v)
      expect(o.scrollWidth, `viewer ${p.name}: ${o.culprits.join(', ')}`).toBeLessThanOrEqual(375)
      await screenshot(v, `cp-runtime-viewer-${p.name}-phone`)
    }
    await openRuntimePage(v, PAGES[1])
    expect(await v.getByRole('button', { name: 'Send' }).count()).toBe(0)
    expect(await v.getByTestId('no-invoke').innerText()).toContain('step.invoke')
    expect(t.errors).toEqual([])
  })

  it('a project in a region without a runtime explains that none is configured, also at 375 px', async () => {
    const t = await tab('phone')
    await signInAdmin(t)
    await t.page.goto(app(`/p/${farProjectId}/logs`))
    await expect.poll(() => t.page.locator('main').innerText(), { timeout: 15_000 }).toContain('No runtime configured for this region')
    expect(await t.page.locator('main').innerText()).toContain('--runtime-urls eu=')
    expect((await horizontalOverflow(t.page)).scrollWidth).toBeLessThanOrEqual(375)
    await screenshot(t.page, 'cp-runtime-none-phone')
  })
})
