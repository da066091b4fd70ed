import { describe, expect, it } from 'vitest'
import { formatEntry, formatStatus, resolveLogFormat } from './log-format.js'

describe('log format', () => {
  it('is JSON by default, pretty when watching or in development, and the flag wins', () => {
    expect(resolveLogFormat(undefined, {}, false)).toBe('json')
    expect(resolveLogFormat(undefined, {}, true)).toBe('pretty')
    expect(resolveLogFormat(undefined, { NODE_ENV: 'development' }, false)).toBe('pretty')
    expect(resolveLogFormat(undefined, { CFP_LOG_FORMAT: 'pretty' }, false)).toBe('pretty')
    expect(resolveLogFormat('json', { CFP_LOG_FORMAT: 'pretty' }, true)).toBe('json')
    expect(() => resolveLogFormat('xml', {}, false)).toThrow(/--log-format/)
  })

  it('JSON lines carry tenant, project, trace and span ids', () => {
    const entry = { ts: 0, level: 'warn' as const, msg: 'hi', step: 'S', traceId: 't1', invocationId: 'i1', data: { n: 1 } }
    const line = JSON.parse(formatEntry(entry, 'json', { tenant: 'acme', project: 'shop' }, false)) as Record<string, unknown>
    expect(line).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      level: 'warn',
      msg: 'hi',
      tenant: 'acme',
      project: 'shop',
      step: 'S',
      trace_id: 't1',
      span_id: 'i1',
      data: { n: 1 },
    })
    expect(formatEntry(entry, 'pretty', {}, false)).toMatch(/WARN {2}\[S\] hi \{"n":1\}$/)
    const status = JSON.parse(formatStatus('cfp-worker: registered 1 steps (0 errors)', 'info', 'json', { tenant: 'a', project: 'b' })) as Record<
      string,
      unknown
    >
    expect(status).toMatchObject({ level: 'info', msg: 'cfp-worker: registered 1 steps (0 errors)', tenant: 'a', project: 'b' })
  })
})
