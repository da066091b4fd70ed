import { describe, expect, it } from 'vitest'
import { type AlertDelivery, type AlertEvent, deliveriesByTransition, deliveryShown, describeDelivery, summarize, transitionKey } from './alert-deliveries'

const event = (id: number, alertId: number, state: string): AlertEvent => ({
  id,
  alertId,
  step: 'Charge',
  sli: 'errors',
  rule: 'page-fast',
  severity: 'page',
  state,
  atMs: 1_000 * id,
  burnLong: 5,
  burnShort: 5,
})

const delivery = (over: Partial<AlertDelivery>): AlertDelivery => ({
  id: 1,
  eventId: 1,
  alertId: 7,
  target: 'webhook',
  status: 'pending',
  attempts: 0,
  lastError: null,
  nextAttemptMs: null,
  deliveredMs: null,
  ...over,
})

describe('deliveryShown', () => {
  it("splits the runtime's pending into pending, sending and retrying", () => {
    expect(deliveryShown(delivery({}))).toBe('pending')
    expect(deliveryShown(delivery({ attempts: 1 }))).toBe('sending')
    expect(deliveryShown(delivery({ attempts: 1, lastError: 'HTTP 500' }))).toBe('retrying')
    expect(deliveryShown(delivery({ status: 'delivered', attempts: 2, lastError: 'HTTP 500' }))).toBe('delivered')
    expect(deliveryShown(delivery({ status: 'failed', attempts: 10, lastError: 'refused' }))).toBe('failed')
    expect(deliveryShown(delivery({ status: 'skipped' }))).toBe('skipped')
  })
})

describe('deliveriesByTransition', () => {
  it('groups deliveries under their alert and state, targets in a fixed order', () => {
    const events = [event(3, 7, 'resolved'), event(2, 7, 'firing'), event(1, 7, 'pending'), event(4, 8, 'pending')]
    const rows = [
      delivery({ id: 10, eventId: 2, target: 'alertmanager', status: 'delivered', attempts: 1 }),
      delivery({ id: 11, eventId: 2, target: 'email', attempts: 1, lastError: 'connect refused' }),
      delivery({ id: 12, eventId: 2, target: 'webhook', status: 'delivered', attempts: 1 }),
      delivery({ id: 13, eventId: 1, target: 'webhook', status: 'delivered', attempts: 3 }),
      delivery({ id: 14, eventId: 4, alertId: 8, target: 'webhook' }),
    ]
    const m = deliveriesByTransition(events, rows)
    expect(m.get(transitionKey(7, 'firing'))?.map((d) => [d.target, d.shown])).toEqual([
      ['webhook', 'delivered'],
      ['email', 'retrying'],
      ['alertmanager', 'delivered'],
    ])
    expect(m.get(transitionKey(7, 'pending'))?.map((d) => d.id)).toEqual([13])
    expect(m.get(transitionKey(7, 'resolved'))).toBeUndefined()
    expect(m.get(transitionKey(8, 'pending'))?.map((d) => d.shown)).toEqual(['pending'])
    expect([...m.values()].flat().some((d) => d.waiting)).toBe(false)
  })

  it('marks a delivery waiting while an earlier transition of its alert and target is open', () => {
    const events = [event(2, 7, 'firing'), event(1, 7, 'pending')]
    const rows = [
      delivery({ id: 2, eventId: 2, target: 'webhook', nextAttemptMs: 1 }),
      delivery({ id: 3, eventId: 2, target: 'email', nextAttemptMs: 1 }),
      delivery({ id: 1, eventId: 1, target: 'webhook', attempts: 1, lastError: 'HTTP 500' }),
    ]
    const m = deliveriesByTransition(events, rows)
    expect(m.get(transitionKey(7, 'firing'))?.map((d) => [d.target, d.waiting])).toEqual([
      ['webhook', true],
      ['email', false],
    ])
    expect(describeDelivery(m.get(transitionKey(7, 'firing'))![0]!, 0)).toBe('not tried yet · waits for the earlier transition to be delivered (sent in order)')
    // once the earlier one is delivered, the later one no longer waits
    const done = deliveriesByTransition(events, [{ ...rows[0]! }, { ...rows[2]!, status: 'delivered' }])
    expect(done.get(transitionKey(7, 'firing'))?.[0]?.waiting).toBe(false)
  })

  it("leaves out deliveries whose transition was not read, or that name another alert than their transition's", () => {
    const m = deliveriesByTransition([event(1, 7, 'pending')], [delivery({ id: 1, eventId: 99 }), delivery({ id: 2, eventId: 1, alertId: 8 })])
    expect(m.size).toBe(0)
  })
})

describe('describeDelivery', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  const view = (d: Partial<AlertDelivery>) => {
    const full = delivery(d)
    return { ...full, shown: deliveryShown(full), waiting: false }
  }

  it('says attempts, the next attempt and the last error of a retrying delivery', () => {
    const text = describeDelivery(view({ attempts: 2, lastError: 'HTTP 500 Internal Server Error', nextAttemptMs: now + 19_500 }), now)
    expect(text).toMatch(/^2 attempts · next attempt \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in 20 s\) · last error: HTTP 500 Internal Server Error$/)
    expect(describeDelivery(view({ attempts: 1, lastError: 'x', nextAttemptMs: now - 5 }), now)).toContain('next attempt due now')
  })

  it('keeps a long error short and hides the errors of a delivered one', () => {
    const long = describeDelivery(view({ attempts: 1, lastError: 'e'.repeat(500), nextAttemptMs: now + 60_000 }), now)
    expect(long).toContain(`last error: ${'e'.repeat(160)}…`)
    expect(long.length).toBeLessThan(260)
    const ok = describeDelivery(view({ status: 'delivered', attempts: 3, lastError: 'HTTP 500', deliveredMs: now }), now)
    expect(ok).toMatch(/^3 attempts · delivered /)
    expect(ok).not.toContain('HTTP 500')
  })

  it('says a failed one was given up, and a skipped one was not sent', () => {
    expect(describeDelivery(view({ status: 'failed', attempts: 10, lastError: 'refused' }), now)).toBe('10 attempts · given up · last error: refused')
    expect(describeDelivery(view({ status: 'skipped' }), now)).toBe('not sent: this target does not take this transition')
    expect(describeDelivery(view({ attempts: 1 }), now)).toBe('1 attempt')
    expect(describeDelivery(view({ nextAttemptMs: now + 1 }), now)).toBe('not tried yet · next attempt due now')
  })
})

describe('summarize', () => {
  it('counts by status, the ones needing attention first', () => {
    const rows = [
      delivery({ status: 'delivered' }),
      delivery({ status: 'delivered' }),
      delivery({ attempts: 1, lastError: 'x' }),
      delivery({ status: 'failed' }),
    ]
    expect(summarize(rows.map((d) => ({ ...d, shown: deliveryShown(d), waiting: false })))).toBe('1 failed, 1 retrying, 2 delivered')
    expect(summarize([])).toBe('')
  })
})
