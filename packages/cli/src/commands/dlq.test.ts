import { tmpdir } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { captureIo, type FakeServer, startFakeServer } from '../test-support/fake-server.js'
import { CliError } from '../util/errors.js'
import { entriesOf, formatDlqTable, runDlqDiscard, runDlqList, runDlqReplay } from './dlq.js'

let server: FakeServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

// The shape of the real runtime's listing (crates/store/src/queue.rs `DeadLetter`, docs/runtime-api.md).
const entries = [
  {
    id: 1,
    step: 'ProcessGreeting',
    eventId: '3f1c5a2e-0000-4000-8000-000000000001',
    topic: 'hello.received',
    data: { name: 'Ada' },
    traceId: 't-1',
    attempts: 4,
    error: { name: 'Error', message: 'boom\nat line 3' },
    failedAtMs: Date.parse('2025-03-01T10:00:00.123Z'),
  },
  {
    id: 2,
    step: 'LogGreeting',
    eventId: 'e2',
    topic: 'hello.processed',
    data: null,
    traceId: 't-2',
    attempts: 1,
    error: { message: 'x'.repeat(300) },
    failedAtMs: 0,
  },
]

describe('cfp dlq', () => {
  it('lists entries as a table, filtered by step', async () => {
    server = await startFakeServer(() => ({ body: { items: entries } }))
    const { io, out } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'tok' })
    await runDlqList({ step: 'Process Greeting' }, io)
    expect(server.requests[0]?.url).toBe('/__cfp/api/dlq?step=Process%20Greeting')
    expect(server.requests[0]?.headers.authorization).toBe('Bearer tok')
    const lines = (out[0] ?? '').split('\n')
    expect(lines[0]).toMatch(/^ID\s+STEP\s+TOPIC\s+ATTEMPTS\s+ERROR\s+FAILEDAT$/)
    expect(lines[1]).toMatch(/^1\s/)
    expect(lines[1]).toContain('Error: boom at line 3')
    expect(lines[1]).toContain('2025-03-01 10:00:00Z')
    expect(lines[2]).toContain('…')
    expect(lines[2]).toContain('1970-01-01 00:00:00Z')
  })

  it('prints JSON with --json', async () => {
    server = await startFakeServer(() => ({ body: { items: entries } }))
    const { io, out } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'tok' })
    await runDlqList({ json: true }, io)
    expect(server.requests[0]?.url).toBe('/__cfp/api/dlq')
    expect(JSON.parse(out[0] ?? '')).toEqual(entries)
  })

  it('says when the queue is empty', () => {
    expect(formatDlqTable([])).toBe('The dead-letter queue is empty.')
    expect(() => entriesOf({ unexpected: true })).toThrow(/items/)
  })

  it('replays and discards by id', async () => {
    server = await startFakeServer((req) => (req.method === 'POST' ? { body: { replayed: 1, step: 'ProcessGreeting' } } : { body: { discarded: 2 } }))
    const { io, out } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'tok' })
    await runDlqReplay('dlq/1', {}, io)
    await runDlqDiscard('dlq_2', {}, io)
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /__cfp/api/dlq/dlq%2F1/replay', 'DELETE /__cfp/api/dlq/dlq_2'])
    expect(out).toEqual(['Replayed dead-letter entry dlq/1 on step ProcessGreeting.', 'Discarded dead-letter entry dlq_2.'])
  })

  it('turns runtime errors into a clear CliError', async () => {
    server = await startFakeServer(() => ({ status: 404, body: { error: { code: 'not_found', message: 'No dead-letter entry dlq_x' } } }))
    const { io } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'tok' })
    const error = (await runDlqReplay('dlq_x', {}, io).catch((e: unknown) => e)) as CliError
    expect(error).toBeInstanceOf(CliError)
    expect(error.message).toBe('No dead-letter entry dlq_x [not_found]')
    expect(error.explanation).toBe('The runtime answered 404 to POST /__cfp/api/dlq/dlq_x/replay.')
  })

  it('explains a refused token and a body that is not JSON', async () => {
    server = await startFakeServer((req) => (req.method === 'GET' ? { status: 401, raw: 'nope' } : { raw: '<html>' }))
    const { io } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'old' })
    const denied = (await runDlqList({}, io).catch((e: unknown) => e)) as CliError
    expect(denied.message).toMatch(/answered 401/)
    expect(denied.action).toMatch(/admin token was refused/)
    const html = (await runDlqDiscard('a', {}, io).catch((e: unknown) => e)) as CliError
    expect(html.message).toMatch(/not JSON/)
  })
})
