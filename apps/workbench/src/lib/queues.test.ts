import { describe, expect, it } from 'vitest'
import { dlqErrorText, queueTotals } from './queues'

describe('queues', () => {
  it('sums the counts of every step', () => {
    expect(
      queueTotals([
        { step: 'A', ready: 1, delayed: 2, inFlight: 3, retrying: 4, dead: 5 },
        { step: 'B', ready: 10, delayed: 0, inFlight: 0, retrying: 0, dead: 1 },
      ]),
    ).toEqual({ ready: 11, delayed: 2, inFlight: 3, retrying: 4, dead: 6 })
  })

  it('renders dead-letter errors of any shape', () => {
    expect(dlqErrorText({ error: { message: 'boom', name: 'Error' } })).toBe('boom')
    expect(dlqErrorText({ error: { message: 'late', name: 'TimeoutError' } })).toBe('TimeoutError: late')
    expect(dlqErrorText({ error: 'plain' })).toBe('plain')
    expect(dlqErrorText({ error: null })).toBe('No error recorded')
  })
})
