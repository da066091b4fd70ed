/**
 * Request logs never carry query values (issue 9 item 7): a token, login code or OIDC code in a URL's query is
 * replaced by `…` in the `incoming request` line, while the path and parameter names stay for debugging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, loggedUrl } from './app.js'
import { createHarness, type Harness } from './test-support/harness.js'

let h: Harness
beforeAll(async () => {
  h = await createHarness()
})
afterAll(async () => h?.close())

describe('request logs', () => {
  it('keep the path and the parameter names, never the values', () => {
    expect(loggedUrl('/v1/me')).toBe('/v1/me')
    expect(loggedUrl('/v1/auth/oidc/x/callback?code=abc&state=def')).toBe('/v1/auth/oidc/x/callback?code=…&state=…')
    expect(loggedUrl('/x?flag&access_token=cfp_live_secret')).toBe('/x?flag=…&access_token=…')
  })

  it('hold no secret a client put in a query string', async () => {
    const lines: string[] = []
    const app = await buildApp(h.s, { logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } } })
    try {
      await app.inject({ method: 'GET', url: '/v1/me?access_token=cfp_live_leaked_in_a_query&token=eyJ.leaked.jwt' })
      await app.inject({ method: 'GET', url: '/v1/auth/oidc/nope/callback?code=leaked-auth-code&state=leaked-state' })
    } finally {
      await app.close()
    }
    const all = lines.join('\n')
    expect(all).toContain('/v1/me?access_token=…&token=…')
    for (const secret of ['cfp_live_leaked_in_a_query', 'eyJ.leaked.jwt', 'leaked-auth-code', 'leaked-state']) expect(all).not.toContain(secret)
  })
})
