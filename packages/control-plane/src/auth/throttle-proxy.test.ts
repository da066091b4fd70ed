/**
 * Attack tests (issue 9 item 6): login throttling keys on the real client address. `X-Forwarded-For` counts only
 * when the connection comes from a trusted proxy (`--trusted-proxies`); otherwise a password sprayer could pick a
 * fresh "address" per attempt, and behind a proxy every user would share the proxy's lock.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { hashPassword } from './passwords.js'
import { ADDRESS_MAX_FAILURES } from './throttle.js'

const PASSWORD = 'correct horse battery'
let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

async function harness(trustedProxies: string[]): Promise<Harness> {
  h = await createHarness({ clock: new ManualClock(), options: { trustedProxies } })
  await h.sql('INSERT INTO users (email, display_name, password_hash) VALUES ($1, $1, $2)', ['bob@example.test', await hashPassword(PASSWORD)])
  return h
}

/** app.inject connects from 127.0.0.1 */
const login = (h: Harness, email: string, password: string, forwardedFor?: string) =>
  h.request('POST', '/v1/auth/login', { body: { email, password }, ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}) })

describe('client address of the login throttle', () => {
  it('ignores X-Forwarded-For from an untrusted peer: a sprayer faking a new address per attempt is still locked', async () => {
    for (const trusted of [[], ['10.0.0.0/8']]) {
      const one = await harness(trusted)
      for (let i = 0; i < ADDRESS_MAX_FAILURES; i++) await login(one, `spray-${i}@example.test`, 'x', `203.0.113.${i + 1}`)
      const res = await login(one, 'bob@example.test', PASSWORD, '198.51.100.99')
      expect(res.status, `trusted ${trusted.join(',')}`).toBe(429)
      await one.close()
      h = undefined
    }
  })

  it('behind a trusted proxy, keys on the forwarded client: one client’s lock does not lock the others', async () => {
    const one = await harness(['127.0.0.1'])
    for (let i = 0; i < ADDRESS_MAX_FAILURES; i++) await login(one, `spray-${i}@example.test`, 'x', '203.0.113.7')
    expect((await login(one, 'bob@example.test', PASSWORD, '203.0.113.7')).status).toBe(429)
    expect((await login(one, 'bob@example.test', PASSWORD, '198.51.100.2')).status).toBe(200)
    // a client cannot escape by prepending its own entries: the proxy appends the real one last
    expect((await login(one, 'bob@example.test', PASSWORD, '198.51.100.3, 203.0.113.7')).status).toBe(429)
  })
})
