/**
 * Helpers the browser tests of the control plane's admin pages share: URLs of the workbench it serves, opening
 * an admin page once its data has loaded, signing in through a test OIDC provider's button, and the 375 px check.
 *
 * @example
 * const { app, openAdmin, ssoSignIn } = adminPages(() => cp)
 * await ssoSignIn(page, idp, VIEWER)
 * await openAdmin(page, 'projects')
 * await fits375(page, 'projects')
 */
import type { Page } from 'playwright-core'
import { expect } from 'vitest'
import type { Account, TestOidcIdp } from '../../../packages/control-plane/src/test-support/oidc-idp'
import { horizontalOverflow } from './harness'

/** Bound to the control plane the test started (read lazily: it is started in `beforeAll`). */
export function adminPages(controlPlane: () => { url: string }) {
  const app = (path: string) => `${controlPlane().url}/__cfp/${path.replace(/^\//, '')}`

  /** Opens an admin page and waits until the caller, the switcher's lists and the page's data have loaded. */
  async function openAdmin(page: Page, name: string): Promise<void> {
    await page.goto(app(`/admin/${name}`))
    await page.locator('.switcher[data-ready="true"]').waitFor({ timeout: 15_000 })
    await page.locator('h1').first().waitFor()
    await page.waitForFunction(() => !document.querySelector('.loading'), undefined, { timeout: 15_000 })
  }

  /** Signs in as `account` through the login page's button of tenant `acme`'s provider "Corp". */
  async function ssoSignIn(page: Page, idp: TestOidcIdp, account: Account): Promise<void> {
    idp.nextAccount = account
    await page.goto(app('/login'))
    await page.getByLabel('Tenant').fill('acme')
    await page.getByRole('button', { name: 'Show sign-in options' }).click()
    await page.getByRole('link', { name: /Sign in with Corp/ }).click()
    await page.waitForURL(/\/__cfp\/admin\/tenants/, { timeout: 30_000 })
    await page.locator('.switcher[data-ready="true"]').waitFor()
  }

  return { app, openAdmin, ssoSignIn }
}

/** Fails when the page scrolls sideways at a phone's 375 px, naming the elements that stick out. */
export async function fits375(page: Page, what: string): Promise<void> {
  const o = await horizontalOverflow(page)
  expect(o.scrollWidth, `${what}: ${o.culprits.join(', ')}`).toBeLessThanOrEqual(375)
}
