import { describe, expect, it } from 'vitest'
import {
  buildRequestUrl,
  callFailureText,
  formatResponseBody,
  headersFromRows,
  methodHasBody,
  missingPathParams,
  parseJsonBody,
  pathParamNames,
  sampleFromSchema,
  statusTone,
} from './endpoint'

describe('request building', () => {
  it('finds path parameters and fills them encoded', () => {
    expect(pathParamNames('/orders/:id/items/:itemId')).toEqual(['id', 'itemId'])
    expect(pathParamNames('/health')).toEqual([])
    expect(missingPathParams('/orders/:id', { id: ' ' })).toEqual(['id'])
    expect(buildRequestUrl('/orders/:id', { id: 'a b/c' }, [])).toBe('/orders/a%20b%2Fc')
  })

  it('adds enabled query rows only, repeated keys kept', () => {
    const url = buildRequestUrl('/search', {}, [
      { key: 'q', value: 'x y', enabled: true },
      { key: 'tag', value: '1', enabled: true },
      { key: 'tag', value: '2', enabled: true },
      { key: 'off', value: 'no', enabled: false },
      { key: ' ', value: 'blank', enabled: true },
    ])
    expect(url).toBe('/search?q=x+y&tag=1&tag=2')
  })

  it('turns header rows into lower-case headers', () => {
    expect(
      headersFromRows([
        { key: 'Content-Type', value: 'application/json', enabled: true },
        { key: 'X-Off', value: '1', enabled: false },
      ]),
    ).toEqual({
      'content-type': 'application/json',
    })
  })

  it('sends a body only for methods that take one, and only valid JSON', () => {
    expect(methodHasBody('post')).toBe(true)
    expect(methodHasBody('GET')).toBe(false)
    expect(parseJsonBody('')).toEqual({ ok: true, body: undefined })
    expect(parseJsonBody('{"a":1}')).toEqual({ ok: true, body: '{"a":1}' })
    expect(parseJsonBody('{a:1}').ok).toBe(false)
  })
})

describe('sampleFromSchema', () => {
  it('builds an example object from a zod-generated JSON Schema', () => {
    const schema = {
      type: 'object',
      properties: {
        customerId: { type: 'string' },
        items: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } } } },
        express: { type: 'boolean', default: true },
        kind: { enum: ['a', 'b'] },
        note: { anyOf: [{ type: 'null' }, { type: 'string' }] },
        at: { type: 'string', format: 'date-time' },
      },
    }
    expect(sampleFromSchema(schema)).toEqual({
      customerId: 'string',
      items: [{ sku: 'string', quantity: 1 }],
      express: true,
      kind: 'a',
      note: 'string',
      at: '1970-01-01T00:00:00.000Z',
    })
  })

  it('prefers examples and stops on runaway nesting', () => {
    expect(sampleFromSchema({ type: 'string', examples: ['Ada'] })).toBe('Ada')
    const loop: Record<string, unknown> = { type: 'object', properties: {} }
    ;(loop.properties as Record<string, unknown>).self = loop
    expect(() => sampleFromSchema(loop)).not.toThrow()
  })
})

describe('responses', () => {
  it('pretty-prints JSON bodies and keeps text as is', () => {
    expect(formatResponseBody('{"a":1}', 'application/json')).toEqual({ kind: 'json', text: '{\n  "a": 1\n}' })
    expect(formatResponseBody('hello', 'text/plain')).toEqual({ kind: 'text', text: 'hello' })
    expect(formatResponseBody('{broken', 'application/json')).toEqual({ kind: 'text', text: '{broken' })
    expect(formatResponseBody('', null).kind).toBe('empty')
  })

  it('colours statuses', () => {
    expect([200, 302, 404, 500, 0].map(statusTone)).toEqual(['ok', 'ok', 'warn', 'error', 'error'])
  })

  it('explains a blocked cross-origin call with the origin to allow', () => {
    expect(callFailureText('Failed to fetch')).toBe('Failed to fetch')
    expect(callFailureText('Failed to fetch', 'https://cp.example.com')).toMatch(/CORS allowlist .* must list https:\/\/cp\.example\.com\.$/)
  })
})
