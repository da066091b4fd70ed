/**
 * Attack tests (issue 9 item 6) against a real `oidc-provider` on loopback:
 * - an SSO login links an existing account only when the e-mail is verified (`email_verified`, or the provider's
 *   `trustEmail` setting); an IdP that lets users type any address must not log anyone in as the local admin;
 * - a one-time login code handed to `return_to` is redeemable only by the browser that started the login (a
 *   cookie), or by whoever holds the PKCE-style verifier whose challenge started it.
 */
import { createHash, randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser } from '../test-support/browser.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { TestOidcIdp } from '../test-support/oidc-idp.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
let idpId: string
let foreignTenant: string
const idp = new TestOidcIdp()

beforeAll(async () => {
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
  await idp.start()
  // the provider belongs to T2, whose admin does not administer T1 or the installation
  foreignTenant = w.nodes.T2!.id!
  const created = await h.request('POST', `/v1/tenants/${foreignTenant}/idps`, {
    token: w.byName('sys').token,
    body: { kind: 'oidc', name: 'foreign', clientSecret: idp.clientSecret, oidc: { issuer: idp.issuer, clientId: idp.clientId } },
  })
  expect(created.status).toBe(201)
  idpId = created.json.id
  await idp.configure(created.json.callbackUrl)
})
afterAll(async () => {
  await idp.close()
  await h?.close()
})

const loginUrl = (q = '') => `${h.url}/v1/auth/oidc/${idpId}/login${q}`
const isCallback = (u: string) => u.startsWith(`${h.url}/v1/auth/oidc/`)

async function login(b: Browser, q = ''): Promise<Response> {
  const { url } = await b.follow(loginUrl(q), isCallback)
  expect(isCallback(url)).toBe(true)
  return b.go(url)
}

const setTrust = async (trustEmail: boolean | null) =>
  expect((await h.request('PATCH', `/v1/idps/${idpId}`, { token: w.byName('sys').token, body: { oidc: { trustEmail } } })).status).toBe(200)

const linkedTo = async (userId: string) => h.sql('SELECT subject FROM external_identities WHERE user_id = $1', [userId])

describe('SSO links an existing account only on a verified e-mail', () => {
  it('refuses an unverified e-mail equal to the local admin’s, links nothing, adds no membership', async () => {
    const admin = w.byName('sys')
    for (const emailVerified of [false, null]) {
      idp.nextAccount = { sub: `mallory-${String(emailVerified)}`, email: 'SYS@example.test', emailVerified, groups: [] }
      const res = await login(new Browser())
      expect(res.status).toBe(403)
      const body = (await res.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe('email_not_verified')
      expect(body.error.message).toMatch(/did not verify/)
    }
    expect(await linkedTo(admin.userId)).toEqual([])
    expect(await h.sql('SELECT 1 FROM memberships WHERE user_id = $1 AND tenant_id = $2', [admin.userId, foreignTenant])).toEqual([])
  })

  it('creates a new account for an unverified e-mail nobody has', async () => {
    idp.nextAccount = { sub: 'newbie', email: 'newbie@elsewhere.example', emailVerified: false, groups: [] }
    const res = await login(new Browser())
    expect(res.status).toBe(200)
    expect(decodeJwt(((await res.json()) as { access_token: string }).access_token).tid).toBe(foreignTenant)
  })

  it('links an invite of this tenant that nobody has claimed yet, unverified or not', async () => {
    const invited = await h.request('POST', `/v1/tenants/${foreignTenant}/members`, { token: w.byName('sys').token, body: { email: 'invitee@t2.example' } })
    expect(invited.status).toBe(201)
    idp.nextAccount = { sub: 'invitee', email: 'invitee@t2.example', emailVerified: false, groups: [] }
    expect((await login(new Browser())).status).toBe(200)
    expect(await linkedTo(invited.json.member.userId)).toEqual([{ subject: 'invitee' }])
  })

  it('links an existing account when the IdP verified the e-mail, or the provider is trusted for e-mail', async () => {
    idp.nextAccount = { sub: 'tv-verified', email: 't_viewer@example.test', emailVerified: true, groups: [] }
    expect((await login(new Browser())).status).toBe(200)
    expect(await linkedTo(w.byName('t_viewer').userId)).toEqual([{ subject: 'tv-verified' }])

    idp.nextAccount = { sub: 'pv-unverified', email: 'p_viewer@example.test', emailVerified: false, groups: [] }
    expect((await login(new Browser())).status).toBe(403)
    await setTrust(true)
    try {
      const res = await login(new Browser())
      expect(res.status).toBe(200)
      expect(await linkedTo(w.byName('p_viewer').userId)).toEqual([{ subject: 'pv-unverified' }])
    } finally {
      await setTrust(null)
    }
    const view = await h.request('GET', `/v1/idps/${idpId}`, { token: w.byName('sys').token })
    expect(view.json.config.trustEmail).toBeUndefined()
  })
})

describe('a login code is bound to the browser that started the login', () => {
  const codeOf = (res: Response) => {
    expect(res.status).toBe(302)
    return new URL(res.headers.get('location')!, h.url).searchParams.get('code')!
  }
  const redeem = (b: Browser | undefined, body: Record<string, string>) =>
    (b ?? new Browser()).go(`${h.url}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'login_code', ...body }),
    })

  it('refuses the code from another browser (stolen from a URL, a log, a Referer) and keeps it for the right one', async () => {
    idp.nextAccount = { sub: 'grace', email: 'grace@t2.example', groups: [] }
    const b = new Browser()
    const code = codeOf(await login(b, '?return_to=/__cfp/'))
    const stolen = await redeem(undefined, { code })
    expect(stolen.status).toBe(400)
    expect(((await stolen.json()) as { error: { code: string } }).error.code).toBe('invalid_grant')
    const mine = await redeem(b, { code })
    expect(mine.status).toBe(200)
    expect((await redeem(b, { code })).status).toBe(400) // once
  })

  it('with a code_challenge at the start, the verifier is what redeems it (a server exchanging the code)', async () => {
    idp.nextAccount = { sub: 'heidi', email: 'heidi@t2.example', groups: [] }
    const verifier = randomBytes(32).toString('base64url')
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    expect((await new Browser().go(loginUrl(`?return_to=/x&code_challenge=short`))).status).toBe(400)
    const b = new Browser()
    const code = codeOf(await login(b, `?return_to=/x&code_challenge=${challenge}&code_challenge_method=S256`))
    expect((await redeem(b, { code })).status).toBe(400) // the cookie alone is not enough
    expect((await redeem(undefined, { code, code_verifier: randomBytes(32).toString('base64url') })).status).toBe(400)
    expect((await redeem(undefined, { code, code_verifier: verifier })).status).toBe(200)
  })
})
