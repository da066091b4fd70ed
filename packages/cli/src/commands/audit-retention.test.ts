import { tmpdir } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { captureIo, type FakeServer, startFakeServer } from '../test-support/fake-server.js'
import { CliError } from '../util/errors.js'
import { formatHolds, parseDays, runAuditHoldList, runAuditHoldPlace, runAuditHoldRelease, runAuditRetention } from './audit-retention.js'

let server: FakeServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

// The shapes of the real runtime's answers (crates/gateway/src/audit_retention.rs, docs/runtime-api.md).
const hold = {
  id: 3,
  tenant: 'default',
  reason: 'litigation 7',
  placedBy: 'admin',
  placedAt: '2026-12-08T03:00:00.000Z',
  releasedBy: null,
  releasedAt: null,
}
const retention = (days: number | null) => ({
  tenant: 'default',
  days,
  defaultDays: 0,
  minDays: 30,
  holds: [hold],
  pruned: [{ chain: 'runtime:default', size: 12, at: '2026-12-01T00:00:00.000Z', by: 'audit retention' }],
})

describe('cfp audit retention', () => {
  it('shows the retention, then sets it and falls back to the default, with the admin token', async () => {
    server = await startFakeServer((req) => ({ body: retention(req.method === 'PUT' ? JSON.parse(req.body).days : null) }))
    const { io, out } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'tok' })
    await runAuditRetention({}, io)
    await runAuditRetention({ days: '365', tenant: 't 1' }, io)
    await runAuditRetention({ default: true }, io)
    expect(server.requests.map((r) => [r.method, r.url, r.body, r.headers.authorization])).toEqual([
      ['GET', '/__cfp/api/audit/retention', '', 'Bearer tok'],
      ['PUT', '/__cfp/api/audit/retention?tenant=t%201', '{"days":365}', 'Bearer tok'],
      ['PUT', '/__cfp/api/audit/retention', '{"days":null}', 'Bearer tok'],
    ])
    expect(out[0]).toBe(
      [
        "tenant default: audit entries kept forever (the runtime's default); floor 30 days",
        '1 legal hold(s) in force: nothing is pruned',
        'pruned runtime:default below seq 12 at 2026-12-01T00:00:00.000Z by audit retention',
      ].join('\n'),
    )
    expect(out[1]).toMatch(/^tenant default: audit entries kept 365 days; floor 30 days/)
  })

  it('refuses bad days before asking, and passes on the runtime’s refusal (floor, permission) by name', async () => {
    for (const bad of ['0', '-3', '1.5', 'ten', '123456']) expect(() => parseDays(bad), bad).toThrow(/--days must be a whole number/)
    expect(parseDays('30')).toBe(30)
    server = await startFakeServer(() => ({
      status: 400,
      body: { error: { code: 'invalid_body', message: '`days` must be a whole number of at least 30 (the runtime’s audit retention floor)' } },
    }))
    const { io } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'tok' })
    const e = (await runAuditRetention({ days: '7' }, io).catch((x: unknown) => x)) as CliError
    expect(e).toBeInstanceOf(CliError)
    expect(e.message).toMatch(/at least 30 .*\[invalid_body\]$/)
    await expect(runAuditRetention({ days: '40', default: true }, io)).rejects.toThrow(/exclude each other/)
    expect(server.requests).toHaveLength(1)
  })
})

describe('cfp audit hold', () => {
  it('places, lists and releases holds', async () => {
    server = await startFakeServer((req) => {
      if (req.method === 'POST') return { status: 201, body: { ...hold, reason: JSON.parse(req.body).reason } }
      if (req.method === 'DELETE') return { body: { ...hold, releasedBy: 'admin', releasedAt: '2026-12-08T04:00:00.000Z' } }
      return { body: retention(null) }
    })
    const { io, out } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'tok' })
    await runAuditHoldPlace({ reason: '  litigation 7 ' }, io)
    const listed = await runAuditHoldList({ json: true }, io)
    await runAuditHoldRelease('3', { tenant: 'default' }, io)
    expect(server.requests.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual([
      'POST /__cfp/api/audit/holds {"reason":"litigation 7"}',
      'GET /__cfp/api/audit/retention ',
      'DELETE /__cfp/api/audit/holds/3?tenant=default ',
    ])
    expect(listed).toEqual([hold])
    expect(out[0]).toBe('Placed legal hold 3 on tenant default: nothing of its audit chain is pruned until it is released.')
    expect(JSON.parse(out[1]!)).toEqual([hold])
    expect(out[2]).toBe('Released legal hold 3 of tenant default (litigation 7).')
  })

  it('refuses a bad id or reason without asking, and names a refused release', async () => {
    server = await startFakeServer(() => ({
      status: 403,
      body: { error: { code: 'forbidden', message: '`audit.runtime.hold.release` on tenant `t1` is not allowed' } },
    }))
    const { io } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'tok' })
    for (const id of ['0', 'x', '1e3', '12345678901234567']) await expect(runAuditHoldRelease(id, {}, io), id).rejects.toThrow(/positive whole number/)
    await expect(runAuditHoldPlace({ reason: '   ' }, io)).rejects.toThrow(/--reason must be 1 to 1000/)
    await expect(runAuditHoldPlace({ reason: 'x'.repeat(1001) }, io)).rejects.toThrow(/--reason must be 1 to 1000/)
    expect(server.requests).toHaveLength(0)
    const e = (await runAuditHoldRelease('4', {}, io).catch((x: unknown) => x)) as CliError
    expect(e.message).toMatch(/audit\.runtime\.hold\.release.*\[forbidden\]$/)
    expect(formatHolds([])).toBe('No legal holds.')
  })
})
