/**
 * The one error shape also covers what Fastify's router and Node's HTTP parser refuse before any route runs
 * (found by the API fuzz suite's response_schema_conformance check: they answered in Fastify's own shape).
 */
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from './test-support/harness.js'

let h: Harness
beforeAll(async () => {
  h = await createHarness({ listen: true })
})
afterAll(async () => h?.close())

const shape = { error: { code: 'invalid_request', message: expect.any(String) } }

/** One raw HTTP/1.1 exchange: returns the status line's code and the body. */
function raw(request: string): Promise<{ status: number; body: string }> {
  const { port } = new URL(h.url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request))
    let data = ''
    socket.setEncoding('utf8').on('data', (d: string) => (data += d))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1])
      status ? resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) }) : reject(new Error(`no response: ${data}`))
    })
  })
}

describe('errors raised before routing', () => {
  it('a path parameter over the router limit is a 414 in the one shape', async () => {
    const res = await h.request('GET', `/v1/tenants/${'x'.repeat(150)}/teams`)
    expect(res.status).toBe(414)
    expect(res.json).toEqual(shape)
  })

  it('a malformed percent-encoding is a 400 in the one shape', async () => {
    const res = await h.request('GET', '/v1/tenants/%E0%A4%A/teams')
    expect(res.status).toBe(400)
    expect(res.json).toEqual(shape)
  })

  it('headers over the parser limit are a 431 in the one shape', async () => {
    const res = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
    expect(res.status).toBe(431)
    expect(JSON.parse(res.body)).toEqual(shape)
  })
})
