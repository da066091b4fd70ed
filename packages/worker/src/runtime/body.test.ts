import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import type { ApiInput } from '../frame-types.js'
import { requestBody } from './body.js'

const root = fileURLToPath(new URL('../../../../protocol/', import.meta.url))
type Case = { name: string; contentType: string; rawBody: string; bodyFrom: 'json' | 'text' | 'none'; body?: unknown; invalid?: boolean }
const cases = (JSON.parse(readFileSync(`${root}vectors/worker-frames.json`, 'utf8')) as { apiBodies: { cases: Case[] } }).apiBodies.cases

const input = (over: Partial<ApiInput>): ApiInput => ({ method: 'POST', path: '/', pathParams: {}, queryParams: {}, headers: {}, rawBody: '', ...over })

/** What a protocol 1 worker's handler saw: the runtime's parsed body, through the frame's JSON text. */
const throughFrame = (body: unknown) => JSON.parse(JSON.stringify({ body })).body as unknown

describe('req.body from rawBody and bodyFrom (protocol 2)', () => {
  // crates/protocol tests/vectors.rs checks the runtime's parse against the same vectors.
  it.each(cases.filter((c) => !c.invalid).map((c) => [c.name, c] as const))('%s: the body the runtime would have parsed', (_, c) => {
    const raw = Buffer.from(c.rawBody, 'base64')
    const parsed = requestBody(input({ bodyFrom: c.bodyFrom, rawBody: c.rawBody }), raw)
    const v1 = throughFrame(c.body)
    expect(parsed).toStrictEqual(v1)
    expect(JSON.stringify(parsed)).toBe(JSON.stringify(v1)) // key order too
  })

  it('takes the parsed body of a protocol 1 input as it is', () => {
    expect(requestBody(input({ body: { a: 1 }, rawBody: 'eyJhIjoxfQ==' }), Buffer.from('{"a":1}'))).toEqual({ a: 1 })
    expect(requestBody(input({ body: null, rawBody: '' }), Buffer.alloc(0))).toBeNull()
  })

  // Above the payload threshold (256 KiB by default): the same parse, whatever the size.
  const big = 300 * 1024
  const bodies: [string, 'json' | 'text' | 'none', Buffer, unknown][] = (() => {
    const doc = { items: Array.from({ length: big / 40 }, (_, i) => ({ i, name: `item-${i}`, ok: i % 2 === 0 })), é: 'x' }
    const text = 'ünïcode line\n'.repeat(big / 12)
    const form = `a=${'x'.repeat(big)}&b=%20`
    const bytes = Buffer.alloc(big, 0xff)
    return [
      ['json', 'json', Buffer.from(JSON.stringify(doc)), doc],
      ['text', 'text', Buffer.from(text), text],
      ['form', 'text', Buffer.from(form), form],
      ['binary', 'none', bytes, null],
    ]
  })()
  it.each(bodies)('a %s body above the threshold', (_, from, raw, expected) => {
    expect(raw.length).toBeGreaterThan(256 * 1024)
    const parsed = requestBody(input({ bodyFrom: from, rawBody: raw.toString('base64') }), raw)
    expect(parsed).toStrictEqual(throughFrame(expected))
    expect(JSON.stringify(parsed)).toBe(JSON.stringify(expected))
  })
})
