/** Queue counts and dead letters, for the Queues page. */
import type { DeadLetter, QueueStats } from './api/types'

export type QueueTotals = Pick<QueueStats, 'ready' | 'delayed' | 'inFlight' | 'retrying' | 'dead'>

export function queueTotals(queues: readonly QueueStats[]): QueueTotals {
  const t: QueueTotals = { ready: 0, delayed: 0, inFlight: 0, retrying: 0, dead: 0 }
  for (const q of queues) {
    t.ready += q.ready
    t.delayed += q.delayed
    t.inFlight += q.inFlight
    t.retrying += q.retrying
    t.dead += q.dead
  }
  return t
}

/** The error of a dead letter as one line: `Name: message`, whatever shape the runtime stored. */
export function dlqErrorText(item: Pick<DeadLetter, 'error'>): string {
  const e = item.error
  if (e === null || e === undefined) return 'No error recorded'
  if (typeof e === 'string') return e
  const message = typeof e.message === 'string' ? e.message : JSON.stringify(e)
  return e.name && e.name !== 'Error' ? `${e.name}: ${message}` : message
}
