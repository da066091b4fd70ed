/**
 * The security rules over the audit stream, through the real routes on real PostgreSQL: each fires exactly when its
 * threshold is crossed inside its window (not one entry before, not for failures spread over a longer time), its
 * response happens and is audited in the same transaction, and GET /v1/security/alerts shows alerts to auditors of
 * their scope only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { audit } from '../audit/record.js'
import { hashPassword } from '../auth/passwords.js'
import { ManualClock } from '../clock.js'
import { drain, ofKind } from '../test-support/audit.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'

const PASSWORD = 'correct horse battery staple'
const clock = new ManualClock(Date.parse('2026-12-07T12:00:00Z'))
let h: Harness
let w: World

/** Sequences what is queued and runs one evaluation round. */
async function tick(): Promise<void> {
  await drain(h)
  await h.s.security.evaluateNow()
  await drain(h)
}

const alerts = (rule: string) => h.sql('SELECT * FROM security_alerts WHERE rule = $1 ORDER BY id', [rule])
const login = (email: string, password: string) => h.request('POST', '/v1/auth/login', { body: { email, password } })

async function passwordUser(email: string): Promise<string> {
  const [u] = await h.sql('INSERT INTO users (email, display_name, password_hash) VALUES ($1, $1, $2) RETURNING id', [email, await hashPassword(PASSWORD)])
  return u.id
}

beforeAll(async () => {
  h = await createHarness({ clock })
  w = await seedWorld(h)
  await tick()
})
afterAll(async () => {
  await h?.close()
})

describe('repeated sign-in failures', () => {
  it('alerts at the 5th denied sign-in within 15 minutes, not the 4th, and locks password sign-in for 15 minutes', async () => {
    const id = await passwordUser('carol@example.test')
    for (let i = 0; i < 4; i++) expect((await login('carol@example.test', 'wrong password!')).status).toBe(401)
    await tick()
    expect(await alerts('login_failures')).toHaveLength(0)
    expect(await h.sql('SELECT * FROM login_locks')).toHaveLength(0)

    expect((await login('carol@example.test', 'wrong password!')).status).toBe(401)
    await tick()
    const [alert, more] = await alerts('login_failures')
    expect(more).toBeUndefined()
    expect(alert).toMatchObject({ subject: id, severity: 'high', tenant_id: null, details: { count: 5, window_seconds: 900 } })
    const [lock] = await h.sql('SELECT * FROM login_locks WHERE user_id = $1', [id])
    expect(lock.until.getTime()).toBe(clock.now() + 900_000)

    // past the throttle's own 30 s lock, the right password is refused before it is checked, with the throttle's
    // answer (429 too_many_attempts: nothing tells that the address has an account) and the time left
    clock.advance(60_000)
    const refused = await login('carol@example.test', PASSWORD)
    expect(refused.status).toBe(429)
    expect(refused.json.error).toMatchObject({ code: 'too_many_attempts', details: { retryAfterSeconds: 840 } })
    const unknown = await login('nobody@example.test', PASSWORD)
    expect(unknown.status).not.toBe(429)
    await tick()
    // the locked attempt is recorded but does not count as a failure: no second alert
    expect(await alerts('login_failures')).toHaveLength(1)

    const [alertEntry] = (await ofKind(h, 'security.alert')).filter((e) => e.details.rule === 'login_failures')
    expect(alertEntry).toMatchObject({
      chain: 'control:system',
      actor: { type: 'system' },
      target: { type: 'user', id },
      details: { count: 5, alert_id: Number(alert.id), response: 'lock_password', webhooks: 0 },
    })
    const [response] = (await ofKind(h, 'security.response')).filter((e) => e.details.rule === 'login_failures')
    expect(response).toMatchObject({ target: { type: 'user', id }, details: { action: 'lock_password', until: lock.until.toISOString() } })

    clock.advance(900_000)
    expect((await login('carol@example.test', PASSWORD)).status).toBe(200)
  })

  it('does not alert for 5 failures spread over more than the window', async () => {
    const id = await passwordUser('dave@example.test')
    for (let i = 0; i < 3; i++) expect((await login('dave@example.test', 'wrong password!')).status).toBe(401)
    await tick()
    clock.advance(16 * 60_000)
    for (let i = 0; i < 2; i++) expect((await login('dave@example.test', 'wrong password!')).status).toBe(401)
    await tick()
    expect((await alerts('login_failures')).filter((a) => a.subject === id)).toHaveLength(0)
    expect((await login('dave@example.test', PASSWORD)).status).toBe(200)
  })
})

describe('refresh-token reuse', () => {
  it('alerts on a reused refresh token and revokes every session of the user', async () => {
    const user = w.byName('team_viewer').userId
    const other = await h.login(user)
    const first = await h.login(user)
    const rotated = await h.request('POST', '/v1/auth/token', { body: { grant_type: 'refresh_token', refresh_token: first.refresh } })
    expect(rotated.status).toBe(200)
    await tick()
    expect(await alerts('refresh_reuse')).toHaveLength(0)

    expect((await h.request('GET', '/v1/me', { token: other.access })).status).toBe(200)
    const reused = await h.request('POST', '/v1/auth/token', { body: { grant_type: 'refresh_token', refresh_token: first.refresh } })
    expect(reused.status).toBe(400)
    await tick()
    const [alert] = await alerts('refresh_reuse')
    expect(alert).toMatchObject({ subject: user, severity: 'high' })
    expect(await h.sql('SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL', [user])).toHaveLength(0)
    expect((await h.request('GET', '/v1/me', { token: other.access })).status).toBe(401)
    const [response] = (await ofKind(h, 'security.response')).filter((e) => e.details.rule === 'refresh_reuse')
    // the reused session was revoked by the reuse itself; the response ended the other one (and the seeded one)
    expect(response).toMatchObject({ target: { type: 'user', id: user }, details: { action: 'revoke_sessions', sessions: 2 } })
  })
})

describe('a denied burst', () => {
  it('alerts at the 20th authz.denied of an API key within 5 minutes and revokes the key', async () => {
    const a1 = w.nodes.A1!
    const { token, info } = await h.s.credentials.create(h.s.db, { kind: 'api_key', project: a1.path as any, name: 'burst', role: 'project_viewer' })
    const patch = () => h.request('PATCH', `/v1/projects/${a1.id}`, { token, body: { name: 'nope' } })
    for (let i = 0; i < 19; i++) expect((await patch()).status).toBe(403)
    await tick()
    expect(await alerts('denied_burst')).toHaveLength(0)
    expect((await h.request('GET', `/v1/projects/${a1.id}`, { token })).status).toBe(200)

    expect((await patch()).status).toBe(403)
    await tick()
    const [alert] = await alerts('denied_burst')
    expect(alert).toMatchObject({ subject: info.id, tenant_id: a1.path.tenant, details: { count: 20, actor_type: 'api_key' } })
    expect((await h.request('GET', `/v1/projects/${a1.id}`, { token })).status).toBe(401)
    const [response] = (await ofKind(h, 'security.response')).filter((e) => e.details.rule === 'denied_burst')
    expect(response).toMatchObject({ chain: `control:${a1.path.tenant}`, target: { type: 'api_key', id: info.id }, details: { action: 'disable_api_key' } })
  })

  it('alerts on a user’s burst without touching the user', async () => {
    const user = w.byName('p_viewer')
    const t = await h.login(user.userId, w.nodes.T1!.id)
    for (let i = 0; i < 20; i++) expect((await h.request('PATCH', `/v1/projects/${w.nodes.A1!.id}`, { token: t.access, body: { name: 'x' } })).status).toBe(403)
    await tick()
    const mine = (await alerts('denied_burst')).filter((a) => a.subject === user.userId)
    expect(mine).toHaveLength(1)
    expect(mine[0].details).toMatchObject({ actor_type: 'user' })
    expect((await h.request('GET', '/v1/me', { token: t.access })).status).toBe(200)
    expect((await ofKind(h, 'security.alert')).find((e) => e.target?.id === user.userId)?.details.response).toBeNull()
  })
})

describe('a failed verification', () => {
  it('raises a critical alert naming the chain', async () => {
    await h.s.db.tx((c) =>
      audit(h.s, c, undefined, {
        kind: 'audit.verify',
        system: true,
        actor: { type: 'system', id: null, name: 'audit verification', auth: 'system' },
        target: { type: 'system', id: null },
        outcome: { status: 'error', code: 'edited' },
        details: { chains: 3, entries: 10, finding: 'edited', chain: 'control:system', seq: 4 },
      }),
    )
    await tick()
    const [alert] = await alerts('verification_failed')
    expect(alert).toMatchObject({ severity: 'critical', subject: 'control:system', details: { finding: 'edited', chain: 'control:system', seq: 4 } })
  })
})

describe('concurrent evaluators', () => {
  it('raise one alert per burst however many replicas evaluate at once', async () => {
    const id = await passwordUser('mallory@example.test')
    for (let i = 0; i < 5; i++) await login('mallory@example.test', 'wrong password!')
    await drain(h)
    const rounds = await Promise.all([h.s.security.evaluateNow(), h.s.security.evaluateNow(), h.s.security.evaluateNow()])
    // a round that found the lock taken reports -1; the others read what was left
    expect(rounds.filter((n) => n > 0).length).toBeGreaterThanOrEqual(1)
    await tick()
    expect((await alerts('login_failures')).filter((a) => a.subject === id)).toHaveLength(1)
    clock.advance(16 * 60_000)
  })
})

describe('GET /v1/security/alerts', () => {
  it('shows every alert to system auditors and a tenant’s alerts to its auditors', async () => {
    const tok = async (name: string, tenant?: string) => (await h.login(w.byName(name).userId, tenant)).access
    const all = await h.request('GET', '/v1/security/alerts', { token: await tok('auditor_sys') })
    expect(all.status).toBe(200)
    expect(all.json.items.map((a: { rule: string }) => a.rule).sort()).toEqual([
      'denied_burst',
      'denied_burst',
      'login_failures',
      'login_failures',
      'refresh_reuse',
      'verification_failed',
    ])
    const t1 = w.nodes.T1!.id!
    const mine = await h.request('GET', `/v1/security/alerts?tenant=${t1}`, { token: await tok('auditor_t', t1) })
    expect(mine.status).toBe(200)
    expect(mine.json.items.length).toBeGreaterThan(0)
    expect(mine.json.items.every((a: { tenantId: string }) => a.tenantId === t1)).toBe(true)
    expect((await h.request('GET', '/v1/security/alerts', { token: await tok('auditor_t', t1) })).status).toBe(403)
    expect((await h.request('GET', `/v1/security/alerts?tenant=${w.nodes.T2!.id}`, { token: await tok('auditor_t', t1) })).status).toBe(404)
    expect((await h.request('GET', '/v1/security/alerts')).status).toBe(401)
    const page = await h.request('GET', '/v1/security/alerts?limit=2', { token: await tok('auditor_sys') })
    expect(page.json.items).toHaveLength(2)
    const rest = await h.request('GET', `/v1/security/alerts?before=${page.json.next}`, { token: await tok('auditor_sys') })
    expect(rest.json.items).toHaveLength(4)
    const bad = await h.request('GET', '/v1/security/alerts?rule=nope', { token: await tok('auditor_sys') })
    expect(bad.status).toBe(400)
    expect(bad.json.error.details).toEqual({ parameter: 'rule' })
    expect((await h.request('GET', '/v1/security/alerts?colour=red', { token: await tok('auditor_sys') })).json.error.details).toEqual({ parameter: 'colour' })
  })

  it('refuses UPDATE and DELETE of alerts', async () => {
    await expect(h.sql("UPDATE security_alerts SET severity = 'warning'")).rejects.toThrow(/append-only/)
    await expect(h.sql('DELETE FROM security_alerts')).rejects.toThrow(/append-only/)
  })
})

describe('responses turned off', () => {
  it('alerts without locking the account', async () => {
    const h2 = await createHarness({ clock: new ManualClock(), options: { securityResponses: [] } })
    try {
      await h2.sql('INSERT INTO users (email, display_name, password_hash) VALUES ($1, $1, $2)', ['erin@example.test', await hashPassword(PASSWORD)])
      for (let i = 0; i < 5; i++) await h2.request('POST', '/v1/auth/login', { body: { email: 'erin@example.test', password: 'wrong password!' } })
      await h2.s.sequencer.drain()
      await h2.s.security.evaluateNow()
      expect(await h2.sql("SELECT * FROM security_alerts WHERE rule = 'login_failures'")).toHaveLength(1)
      expect(await h2.sql('SELECT * FROM login_locks')).toHaveLength(0)
      await h2.s.sequencer.drain()
      expect(await h2.sql("SELECT 1 FROM audit_entries WHERE kind = 'security.response'")).toHaveLength(0)
    } finally {
      await h2.close()
    }
  })
})
