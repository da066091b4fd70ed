/**
 * Issue 9 item 7: the first-run setup form, submitted by a browser, ends on the sign-in page — not on a JSON page
 * showing a fresh admin token pair (which then sits in the browser's history, cache and screen). API clients
 * posting JSON still get the token pair.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../test-support/harness.js'
import { prepareSetupLink } from '../auth/bootstrap.js'

let h: Harness
beforeAll(async () => {
  h = await createHarness()
})
afterAll(async () => h?.close())

const submit = (fields: Record<string, string>) =>
  h.request('POST', '/v1/setup', { body: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
const tokenOf = (url: string) => new URL(url).searchParams.get('token')!

describe('the setup form', () => {
  it('redirects the browser to the sign-in page, with no token anywhere in the answer', async () => {
    h.s.options.workbenchDir = '/served' // only its presence matters here
    const token = tokenOf((await prepareSetupLink(h.s))!)
    const res = await submit({ token, email: 'root@example.test', displayName: 'Root', password: 'correct horse battery' })
    expect(res.status).toBe(303)
    expect(res.headers.location).toBe('/__cfp/login?setup=done')
    expect(res.body).not.toMatch(/access_token|refresh_token|cfp_rt_|eyJ/)
    expect(res.headers['cache-control']).toBe('no-store')
    const login = await h.request('POST', '/v1/auth/login', { body: { email: 'root@example.test', password: 'correct horse battery' } })
    expect(login.status).toBe(200)
  })

  it('says where to sign in when no workbench is served, and shows a refusal as a page', async () => {
    delete h.s.options.workbenchDir
    await h.sql("DELETE FROM role_bindings WHERE role = 'system_admin'")
    const token = tokenOf((await prepareSetupLink(h.s))!)
    const res = await submit({ token, email: 'second@example.test', password: 'correct horse battery' })
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/text\/html/)
    expect(res.body).toContain('POST /v1/auth/login')
    expect(res.body).not.toMatch(/access_token|refresh_token|cfp_rt_|eyJ/)

    const again = await submit({ token, email: 'third@example.test', password: 'correct horse battery' })
    expect(again.status).toBe(410)
    expect(again.headers['content-type']).toMatch(/text\/html/)
    expect(again.body).toContain('setup link is invalid, expired or already used')
  })

  it('escapes what it echoes', async () => {
    const res = await submit({ token: '<script>x</script>', email: 'a@b.example', password: 'correct horse battery' })
    expect(res.headers['content-type']).toMatch(/text\/html/)
    expect(res.body).not.toContain('<script>x')
  })
})
