/**
 * Deliveries of SLO alert transitions to the runtime's alert targets (docs/slo.md "Delivery"): the calls, and
 * what the Metrics page makes of them — each transition (alert id + state) with its deliveries, and each delivery's
 * status in words.
 *
 * The runtime lists deliveries (`GET /slo/alerts/deliveries`) by transition id (`eventId`) and alert id, and the
 * transitions (`GET /slo/alerts/events`) with their state; joining the two gives, per alert and state, the
 * deliveries of that transition. The runtime's `pending` covers three cases the page tells apart: never tried
 * yet (`pending`), an attempt under way (`sending`: the lease counted the attempt, no error yet), and tried and
 * failed, to be tried again at `nextAttemptMs` (`retrying`).
 *
 * @example
 * const byTransition = deliveriesByTransition(events, deliveries)
 * byTransition.get(transitionKey(alert.id, 'firing')) // [{ target: 'webhook', shown: 'delivered', … }]
 */
import type { ApiClient } from './api/client'
import { queryString } from './api/client'
import { formatDateTime } from './format'
import type { Tone } from './slo'

// ---------- API shapes (docs/runtime-api.md) ----------

export interface AlertDelivery {
  id: number
  eventId: number
  alertId: number
  /** `webhook`, `email` or `alertmanager` (targets are named, never described: no URL, no secret). */
  target: string
  status: 'pending' | 'delivered' | 'skipped' | 'failed' | string
  attempts: number
  lastError: string | null
  nextAttemptMs: number | null
  deliveredMs: number | null
}

export interface DeliveriesResponse {
  /** The targets this runtime is configured with. */
  targets: string[]
  deliveries: AlertDelivery[]
}

export interface AlertEvent {
  id: number
  alertId: number
  step: string
  sli: string
  rule: string
  severity: string
  state: string
  atMs: number
  burnLong: number
  burnShort: number
}

/** Most rows the page reads of each (the runtime allows 1,000): the alert list shows the newest 50 alerts. */
export const DELIVERY_PAGE = 500

export function deliveryApi(api: ApiClient) {
  return {
    deliveries: (limit = DELIVERY_PAGE) => api.call<DeliveriesResponse>('GET', `/slo/alerts/deliveries${queryString({ limit })}`),
    events: (limit = DELIVERY_PAGE) => api.call<{ events: AlertEvent[] }>('GET', `/slo/alerts/events${queryString({ limit })}`),
  }
}

// ---------- what the page shows ----------

export type DeliveryShown = 'pending' | 'sending' | 'retrying' | 'delivered' | 'skipped' | 'failed'

export interface DeliveryView extends AlertDelivery {
  shown: DeliveryShown
  /** An earlier transition of the same alert to the same target is still open: the runtime sends in order, so
   * this one waits for it. */
  waiting: boolean
}

export const DELIVERY_TONE: Record<DeliveryShown, Tone> = {
  pending: 'neutral',
  sending: 'neutral',
  retrying: 'warn',
  delivered: 'ok',
  skipped: 'neutral',
  failed: 'error',
}

/** The status a person reads: the runtime's, with its `pending` split into pending, sending and retrying. */
export function deliveryShown(d: AlertDelivery): DeliveryShown {
  switch (d.status) {
    case 'delivered':
    case 'skipped':
    case 'failed':
      return d.status
    default:
      if (d.attempts === 0) return 'pending'
      return d.lastError ? 'retrying' : 'sending'
  }
}

/** The key of one transition: an alert's id and the state it moved to (each state happens once per alert). */
export function transitionKey(alertId: number, state: string): string {
  return `${alertId}:${state}`
}

const TARGET_ORDER = ['webhook', 'email', 'alertmanager']
const targetRank = (t: string) => {
  const i = TARGET_ORDER.indexOf(t)
  return i < 0 ? TARGET_ORDER.length : i
}

/**
 * Deliveries per transition, keyed by {@link transitionKey}: a delivery whose transition is not among `events`
 * (older than the page of events read) is left out, as is one whose alert id does not match its transition's.
 * Each list is ordered by target (webhook, email, alertmanager, then others by name). A delivery is `waiting` when
 * an earlier one (lower transition id) of the same alert and target is still open (the runtime's `pending`).
 */
export function deliveriesByTransition(events: readonly AlertEvent[], deliveries: readonly AlertDelivery[]): Map<string, DeliveryView[]> {
  const byId = new Map(events.map((e) => [e.id, e]))
  // per alert and target, the lowest transition id still open
  const firstOpen = new Map<string, number>()
  for (const d of deliveries) {
    if (d.status !== 'pending') continue
    const k = `${d.alertId}:${d.target}`
    firstOpen.set(k, Math.min(firstOpen.get(k) ?? Number.POSITIVE_INFINITY, d.eventId))
  }
  const out = new Map<string, DeliveryView[]>()
  for (const d of deliveries) {
    const e = byId.get(d.eventId)
    if (!e || e.alertId !== d.alertId) continue
    const key = transitionKey(e.alertId, e.state)
    const list = out.get(key) ?? []
    const shown = deliveryShown(d)
    const waiting = shown === 'pending' && (firstOpen.get(`${d.alertId}:${d.target}`) ?? d.eventId) < d.eventId
    list.push({ ...d, shown, waiting })
    out.set(key, list)
  }
  for (const list of out.values()) list.sort((a, b) => targetRank(a.target) - targetRank(b.target) || a.target.localeCompare(b.target) || a.id - b.id)
  return out
}

/** Longest error text shown inline (the runtime keeps 500 characters; the whole text is in the title). */
const ERROR_SHOWN = 160

/** The details after the status: attempts, when it was delivered or is tried next, and the last error. */
export function describeDelivery(d: DeliveryView, nowMs: number): string {
  const parts: string[] = []
  if (d.shown === 'pending' && d.attempts === 0) parts.push('not tried yet')
  else if (d.shown !== 'skipped') parts.push(`${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`)
  if (d.shown === 'skipped') parts.push('not sent: this target does not take this transition')
  if (d.waiting) parts.push('waits for the earlier transition to be delivered (sent in order)')
  if (d.deliveredMs !== null && d.shown === 'delivered') parts.push(`delivered ${formatDateTime(d.deliveredMs)}`)
  if (d.nextAttemptMs !== null && !d.waiting && (d.shown === 'retrying' || d.shown === 'pending')) {
    const inMs = d.nextAttemptMs - nowMs
    parts.push(inMs > 1000 ? `next attempt ${formatDateTime(d.nextAttemptMs)} (in ${Math.ceil(inMs / 1000)} s)` : 'next attempt due now')
  }
  if (d.shown === 'failed') parts.push('given up')
  if (d.lastError && d.shown !== 'delivered') {
    const e = d.lastError.length > ERROR_SHOWN ? `${d.lastError.slice(0, ERROR_SHOWN)}…` : d.lastError
    parts.push(`last error: ${e}`)
  }
  return parts.join(' · ')
}

/** Counts per shown status, for the summary line (`3 delivered, 1 retrying`). */
export function summarize(views: Iterable<DeliveryView>): string {
  const counts = new Map<DeliveryShown, number>()
  for (const v of views) counts.set(v.shown, (counts.get(v.shown) ?? 0) + 1)
  const order: DeliveryShown[] = ['failed', 'retrying', 'sending', 'pending', 'delivered', 'skipped']
  return order
    .filter((s) => counts.has(s))
    .map((s) => `${counts.get(s)} ${s}`)
    .join(', ')
}
