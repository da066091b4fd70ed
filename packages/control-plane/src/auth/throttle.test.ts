/** Brute-force protection of password login: per-account lock with backoff, per-address lock, reset on success. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { hashPassword } from './passwords.js'
import { ACCOUNT_FIRST_LOCK_S, ACCOUNT_FREE_FAILURES, ADDRESS_MAX_FAILURES, WINDOW_S } from './throttle.js'

const clock = new ManualClock()
let h: Harness
const PASSWORD = 'correct horse battery'

beforeAll(async () => {
  h = await createHarness({ clock })
  const hash = await hashPassword(PASSWORD)
  for (const email of ['ann@example.test', 'bob@example.test']) {
    await h.sql('INSERT INTO users (email, display_name, password_hash) VALUES ($1, $1, $2)', [email, hash])
  }
})
afterAll(async () => h?.close())

const login = (email: string, password: string) => h.request('POST', '/v1/auth/login', { body: { email, password } })

describe('password login throttling', () => {
  it('locks an account after repeated failures, with Retry-After, even for the right password, then lets it in', async () => {
    for (let i = 0; i < ACCOUNT_FREE_FAILURES; i++) expect((await login('ann@example.test', 'wrong')).status).toBe(401)
    const locked = await login('ann@example.test', PASSWORD)
    expect(locked.status).toBe(429)
    expect(locked.json.error.code).toBe('too_many_attempts')
    expect(locked.headers['retry-after']).toBe(String(ACCOUNT_FIRST_LOCK_S))
    // another account from the same address is not affected
    expect((await login('bob@example.test', PASSWORD)).status).toBe(200)
    clock.advance((ACCOUNT_FIRST_LOCK_S + 1) * 1000)
    expect((await login('ann@example.test', PASSWORD)).status).toBe(200)
    // success cleared the counter: the next failure does not lock again
    expect((await login('ann@example.test', 'wrong')).status).toBe(401)
    expect((await login('ann@example.test', PASSWORD)).status).toBe(200)
  })

  it('doubles the lock with each further failure, and locks unknown addresses alike (nothing to learn)', async () => {
    const ghost = 'nobody@example.test'
    for (let i = 0; i < ACCOUNT_FREE_FAILURES; i++) await login(ghost, 'x')
    clock.advance((ACCOUNT_FIRST_LOCK_S + 1) * 1000)
    expect((await login(ghost, 'x')).status).toBe(401)
    const second = await login(ghost, 'x')
    expect(second.status).toBe(429)
    expect(Number(second.headers['retry-after'])).toBe(ACCOUNT_FIRST_LOCK_S * 2)
    clock.advance(WINDOW_S * 1000 + 1000)
  })

  it('locks a client address that fails across many accounts, until its window ends', async () => {
    for (let i = 0; i < ADDRESS_MAX_FAILURES; i++) await login(`spray-${i}@example.test`, 'x')
    const res = await login('bob@example.test', PASSWORD)
    expect(res.status).toBe(429)
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(WINDOW_S - 60)
    clock.advance(WINDOW_S * 1000 + 1000)
    expect((await login('bob@example.test', PASSWORD)).status).toBe(200)
  })
})
