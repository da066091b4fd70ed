import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { captureIo, type FakeServer, startFakeServer } from '../test-support/fake-server.js'
import { writeDevFile } from '../util/dev-file.js'
import { CliError } from '../util/errors.js'
import { parseData, runEmit } from './emit.js'

let server: FakeServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

describe('cfp emit', () => {
  it('POSTs {topic, data, messageGroupId} with the admin token from dev.json and prints the reply', async () => {
    server = await startFakeServer(() => ({ body: { eventId: 'ev_1', traceId: 'tr_1' } }))
    const dir = mkdtempSync(join(tmpdir(), 'cfp-emit-'))
    writeDevFile(dir, { url: server.url, adminToken: 'adm', pid: process.pid })
    const { io, out } = captureIo(dir)
    const res = await runEmit({ topic: 'order.created', data: '{"id":7}', group: 'customer-1' }, io)
    expect(res).toEqual({ eventId: 'ev_1', traceId: 'tr_1' })
    expect(JSON.parse(out[0] ?? '')).toEqual({ eventId: 'ev_1', traceId: 'tr_1' })
    const req = server.requests[0]
    expect(req?.method).toBe('POST')
    expect(req?.url).toBe('/__cfp/api/emit')
    expect(req?.headers.authorization).toBe('Bearer adm')
    expect(req?.headers['content-type']).toBe('application/json')
    expect(JSON.parse(req?.body ?? '')).toEqual({ topic: 'order.created', data: { id: 7 }, messageGroupId: 'customer-1' })
  })

  it('uses CFP_URL/CFP_TOKEN and omits messageGroupId when no group is given', async () => {
    server = await startFakeServer(() => ({ body: { eventId: 'e', traceId: 't' } }))
    const { io } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'envtok' })
    await runEmit({ topic: 't' }, io)
    expect(server.requests[0]?.headers.authorization).toBe('Bearer envtok')
    expect(JSON.parse(server.requests[0]?.body ?? '')).toEqual({ topic: 't', data: {} })
  })

  it('rejects bad JSON in --data before calling the runtime', async () => {
    server = await startFakeServer(() => ({ body: {} }))
    const { io } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'x' })
    const error = await runEmit({ topic: 't', data: "{name: 'Ada'}" }, io).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CliError)
    expect((error as CliError).message).toMatch(/not valid JSON/)
    expect((error as CliError).action).toContain(`--data '{"name":"Ada"}'`)
    expect(server.requests).toHaveLength(0)
  })

  it('reads --data from @file and from stdin', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfp-emit-'))
    writeFileSync(join(dir, 'p.json'), '{"big":[1,2,3]}')
    expect(parseData('@p.json', dir, () => '')).toEqual({ big: [1, 2, 3] })
    expect(parseData('-', dir, () => '"from stdin"')).toBe('from stdin')
    expect(() => parseData('@missing.json', dir, () => '')).toThrow(/Cannot read the --data file/)
  })

  it('prints the runtime error {error:{code,message}}', async () => {
    server = await startFakeServer(() => ({ status: 400, body: { error: { code: 'unknown_topic', message: 'No step subscribes to nope' } } }))
    const { io } = captureIo(tmpdir(), { CFP_URL: server.url, CFP_TOKEN: 'x' })
    const error = (await runEmit({ topic: 'nope' }, io).catch((e: unknown) => e)) as CliError
    expect(error.message).toBe('No step subscribes to nope [unknown_topic]')
    expect(error.explanation).toContain('400')
    expect(error.exitCode).toBe(1)
  })

  it('says the dev server is unreachable when nothing listens', async () => {
    server = await startFakeServer(() => ({ body: {} }))
    const url = server.url
    await server.close()
    server = undefined
    const { io } = captureIo(tmpdir(), { CFP_URL: url, CFP_TOKEN: 'x' })
    const error = (await runEmit({ topic: 't' }, io).catch((e: unknown) => e)) as CliError
    expect(error.message).toMatch(/Could not reach the CFP runtime .*ECONNREFUSED/)
    expect(error.action).toMatch(/cfp dev/)
  })
})
