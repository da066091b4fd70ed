/**
 * Webhook delivery of security alerts to a loopback receiver: the alert is queued per URL in the alert's
 * transaction, arrives with a signature the receiver can check, is retried with backoff after a 500 and after a
 * crash between claim and outcome (a fresh deliverer, as after a restart, picks the row up), and is marked failed
 * after the last attempt.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashPassword } from '../auth/passwords.js'
import { ManualClock } from '../clock.js'
import { drain } from '../test-support/audit.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { backoff, DELIVERY_DEFAULTS, Deliverer, type Fetch } from './deliver.js'

const SECRET = 'webhook-secret-for-tests-0123456789'
const clock = new ManualClock(Date.parse('2026-12-07T12:00:00Z'))
let h: Harness
let server: Server
let url = ''
/** statuses the receiver answers with, in order; 200 when empty */
const answers: number[] = []
const received: { headers: Record<string, string | string[] | undefined>; body: string; status: number }[] = []

/** What a receiver does: recompute the HMAC of "<t>.<raw body>" and compare in constant time. */
function checkSignature(header: string, body: string, secret: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header)
  if (!m) return false
  const want = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest()
  return timingSafeEqual(want, Buffer.from(m[2]!, 'hex'))
}

async function failLogins(email: string, n: number): Promise<void> {
  await h.sql('INSERT INTO users (email, display_name, password_hash) VALUES ($1, $1, $2)', [email, await hashPassword('a good long password')])
  for (let i = 0; i < n; i++) await h.request('POST', '/v1/auth/login', { body: { email, password: 'wrong password!' } })
  await drain(h)
  await h.s.security.evaluateNow()
}

const deliveries = () => h.sql('SELECT * FROM security_deliveries ORDER BY id')

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const status = answers.shift() ?? 200
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), status })
      res.writeHead(status).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const addr = server.address()
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`
  h = await createHarness({ clock, options: { securityWebhookUrls: [url], securityWebhookSecret: SECRET } })
})
afterAll(async () => {
  await h?.close()
  await new Promise((r) => server?.close(r))
})

describe('security webhooks', () => {
  it('queues the alert in its transaction and delivers it signed', async () => {
    await failLogins('frank@example.test', 5)
    const [alert] = await h.sql("SELECT * FROM security_alerts WHERE rule = 'login_failures'")
    const [d] = await deliveries()
    expect(d).toMatchObject({ alert_id: alert.id, url, attempts: 0, delivered_at: null })

    expect(await h.s.security.deliverer!.deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 })
    const got = received.at(-1)!
    expect(got.headers['content-type']).toBe('application/json')
    expect(got.headers['x-cfp-alert-id']).toBe(String(alert.id))
    expect(checkSignature(String(got.headers['x-cfp-signature']), got.body, SECRET)).toBe(true)
    expect(checkSignature(String(got.headers['x-cfp-signature']), got.body, 'another secret')).toBe(false)
    expect(String(got.headers['x-cfp-signature'])).toMatch(new RegExp(`^t=${Math.floor(clock.now() / 1000)},`))
    expect(JSON.parse(got.body)).toMatchObject({
      type: 'security.alert',
      id: Number(alert.id),
      rule: 'login_failures',
      severity: 'high',
      subject: alert.subject,
    })
    const [after] = await deliveries()
    expect(after.delivered_at).not.toBeNull()
    // nothing due any more
    expect(await h.s.security.deliverer!.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 })
    // the alert's audit entry counts the webhook
    await drain(h)
    const [entry] = await h.sql("SELECT leaf FROM audit_entries WHERE kind = 'security.alert'")
    expect(JSON.parse(entry.leaf).details).toMatchObject({ webhooks: 1 })
  })

  it('commits an alert, its outbox rows, its response and the cursor together or not at all', async () => {
    await h.sql(`CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`)
    await h.sql('CREATE TRIGGER fail_once BEFORE INSERT ON security_deliveries FOR EACH ROW EXECUTE FUNCTION fail_once()')
    const alertsBefore = (await h.sql('SELECT id FROM security_alerts')).length
    const cursorBefore = await h.sql("SELECT seq FROM security_cursors WHERE chain = 'control:system'")
    await h.sql('INSERT INTO users (email, display_name, password_hash) VALUES ($1, $1, $2)', ['ken@example.test', await hashPassword('a good long password')])
    for (let i = 0; i < 5; i++) await h.request('POST', '/v1/auth/login', { body: { email: 'ken@example.test', password: 'wrong password!' } })
    await drain(h)
    await expect(h.s.security.evaluateNow()).rejects.toThrow(/injected failure/)
    expect(await h.sql('SELECT id FROM security_alerts')).toHaveLength(alertsBefore)
    expect(await h.sql("SELECT seq FROM security_cursors WHERE chain = 'control:system'")).toEqual(cursorBefore)
    const [ken] = await h.sql("SELECT id FROM users WHERE email = 'ken@example.test'")
    expect(await h.sql('SELECT 1 FROM login_locks WHERE user_id = $1', [ken.id])).toHaveLength(0)
    await h.sql('DROP TRIGGER fail_once ON security_deliveries')
    // the next round reads the same entries again and raises the alert once
    expect(await h.s.security.evaluateNow()).toBeGreaterThan(0)
    expect(await h.sql("SELECT id FROM security_alerts WHERE subject = $1 AND rule = 'login_failures'", [ken.id])).toHaveLength(1)
    expect(await h.sql('SELECT 1 FROM login_locks WHERE user_id = $1', [ken.id])).toHaveLength(1)
    expect(await h.s.security.deliverer!.deliverDue()).toMatchObject({ delivered: 1 })
  })

  it('retries a 500-ing receiver with exponential backoff', async () => {
    await failLogins('grace@example.test', 5)
    answers.push(500, 503)
    const deliverer = h.s.security.deliverer!
    expect(await deliverer.deliverDue()).toEqual({ delivered: 0, retried: 1, failed: 0 })
    let row = (await deliveries()).at(-1)
    expect(row).toMatchObject({ attempts: 1, delivered_at: null, last_error: 'the receiver answered 500' })
    expect(row.next_attempt_at.getTime()).toBe(clock.now() + DELIVERY_DEFAULTS.baseMs)
    // not due before the delay
    clock.advance(DELIVERY_DEFAULTS.baseMs - 1)
    expect(await deliverer.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 })
    clock.advance(1)
    expect(await deliverer.deliverDue()).toEqual({ delivered: 0, retried: 1, failed: 0 })
    row = (await deliveries()).at(-1)
    expect(row.next_attempt_at.getTime()).toBe(clock.now() + 2 * DELIVERY_DEFAULTS.baseMs)
    clock.advance(2 * DELIVERY_DEFAULTS.baseMs)
    expect(await deliverer.deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 })
    row = (await deliveries()).at(-1)
    expect(row).toMatchObject({ attempts: 3, last_error: null })
    expect(received.slice(-3).map((r) => r.status)).toEqual([500, 503, 200])
    expect(received.slice(-3).map((r) => r.headers['x-cfp-delivery-attempt'])).toEqual(['1', '2', '3'])
    expect(backoff(DELIVERY_DEFAULTS, 30)).toBe(DELIVERY_DEFAULTS.capMs)
  })

  it('loses no alert when the deliverer dies between claim and outcome', async () => {
    await failLogins('heidi@example.test', 5)
    // a deliverer whose request never ends: it claims the row, then the process "dies"
    const hang: Fetch = () => new Promise(() => undefined)
    void new Deliverer(h.s.db, clock, { ...DELIVERY_DEFAULTS, secret: SECRET }, hang).deliverDue()
    await expect.poll(async () => (await deliveries()).at(-1).attempts).toBe(1)
    const before = received.length
    // a restarted deliverer: nothing while the claim's lease runs, the alert once it is over
    const fresh = new Deliverer(h.s.db, clock, { ...DELIVERY_DEFAULTS, secret: SECRET })
    expect(await fresh.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 })
    clock.advance(DELIVERY_DEFAULTS.timeoutMs + 30_000)
    expect(await fresh.deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 })
    expect(received).toHaveLength(before + 1)
    expect(checkSignature(String(received.at(-1)!.headers['x-cfp-signature']), received.at(-1)!.body, SECRET)).toBe(true)
  })

  it('marks a delivery failed after the last attempt, keeping the row', async () => {
    await failLogins('ivan@example.test', 5)
    const d = new Deliverer(h.s.db, clock, { ...DELIVERY_DEFAULTS, secret: SECRET, maxAttempts: 3 })
    answers.push(500, 500, 500)
    expect(await d.deliverDue()).toMatchObject({ retried: 1 })
    clock.advance(backoff(DELIVERY_DEFAULTS, 1))
    expect(await d.deliverDue()).toMatchObject({ retried: 1 })
    clock.advance(backoff(DELIVERY_DEFAULTS, 2))
    expect(await d.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 1 })
    const row = (await deliveries()).at(-1)
    expect(row).toMatchObject({ attempts: 3, delivered_at: null, last_error: 'the receiver answered 500' })
    expect(row.failed_at).not.toBeNull()
    clock.advance(DELIVERY_DEFAULTS.capMs)
    expect(await d.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 })
  })

  it('raises and delivers on its own once started (sequencer and watch running, nothing driven by the test)', async () => {
    const before = received.length
    h.s.sequencer.start()
    h.s.security.start()
    try {
      await h.sql('INSERT INTO users (email, display_name, password_hash) VALUES ($1, $1, $2)', [
        'judy@example.test',
        await hashPassword('a good long password'),
      ])
      for (let i = 0; i < 5; i++) await h.request('POST', '/v1/auth/login', { body: { email: 'judy@example.test', password: 'wrong password!' } })
      await expect.poll(() => received.length, { timeout: 10_000, interval: 100 }).toBe(before + 1)
      const body = JSON.parse(received.at(-1)!.body)
      const [judy] = await h.sql("SELECT id FROM users WHERE email = 'judy@example.test'")
      expect(body).toMatchObject({ rule: 'login_failures', subject: judy.id })
    } finally {
      await h.s.security.stop()
      await h.s.sequencer.stop()
    }
  })

  it('refuses a webhook to a link-local address (cloud metadata) and records why', async () => {
    const d = new Deliverer(h.s.db, clock, { ...DELIVERY_DEFAULTS, secret: SECRET })
    const [alert] = await h.sql('SELECT id FROM security_alerts ORDER BY id LIMIT 1')
    await h.sql('INSERT INTO security_deliveries (alert_id, url, next_attempt_at) VALUES ($1, $2, $3)', [
      alert.id,
      'http://169.254.169.254/latest/meta-data',
      new Date(clock.now()),
    ])
    expect(await d.deliverDue()).toMatchObject({ retried: 1 })
    expect((await deliveries()).at(-1).last_error).toMatch(/OutboundRefused.*link-local/)
  })
})
