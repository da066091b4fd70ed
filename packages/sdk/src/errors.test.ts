import { describe, expect, it } from 'vitest'
import { EmitError, normalizeEmit } from './emit.js'
import { classifyError, NonRetriableError, RetryAfterError } from './errors.js'
import { Logger, type LogRecord } from './logger.js'

describe('classifyError', () => {
  it('marks NonRetriableError as not retriable, RetryAfterError with its delay, others retriable', () => {
    expect(classifyError(new NonRetriableError('bad input'))).toMatchObject({ name: 'NonRetriableError', message: 'bad input', retriable: false })
    expect(classifyError(new RetryAfterError('slow down', 5000))).toMatchObject({ retriable: true, retryAfterMs: 5000 })
    expect(classifyError(new Error('boom'))).toMatchObject({ retriable: true, message: 'boom' })
    expect(classifyError('text')).toMatchObject({ retriable: true, message: 'non-error value thrown: text' })
  })

  it('recognises errors built by another copy of the class through the Symbol.for brand', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('cfp.error.nonRetriable')]: true })
    expect(classifyError(foreign).retriable).toBe(false)
  })
})

describe('normalizeEmit', () => {
  it('accepts { topic, data, messageGroupId } and the legacy { type, data }', () => {
    expect(normalizeEmit({ topic: 'a', data: 1, messageGroupId: 'g' }, 'S', ['a'])).toEqual({ topic: 'a', data: 1, messageGroupId: 'g' })
    expect(normalizeEmit({ type: 'a', data: { x: 1 } }, 'S', [])).toEqual({ topic: 'a', data: { x: 1 } })
  })

  it('rejects a topic not in a non-empty emits, naming the allowed topics', () => {
    expect(() => normalizeEmit({ topic: 'c', data: 1 }, 'S', ['a', { topic: 'b' }])).toThrow(EmitError)
    expect(() => normalizeEmit({ topic: 'c', data: 1 }, 'S', ['a', { topic: 'b' }])).toThrow(/Allowed topics: 'a', 'b'/)
  })
})

describe('Logger', () => {
  it('merges child meta, serialises errors and maps log() levels', () => {
    const out: LogRecord[] = []
    const log = new Logger({ step: 'S' }, (r) => out.push(r)).child({ user: 'u' })
    log.error('failed', { error: new Error('boom') })
    log.log({ level: 'warning', msg: 'careful', n: 1 })
    expect(out[0]).toMatchObject({ level: 'error', msg: 'failed', data: { step: 'S', user: 'u', error: { message: 'boom' } } })
    expect(out[1]).toMatchObject({ level: 'warn', msg: 'careful', data: { n: 1 } })
  })
})
