/**
 * Request bodies with a real Node worker (protocol 2, docs/protocol.md "API input"): the handler's `req.body` and
 * `req.rawBody` for JSON, text, form and binary bodies, small (the worker parses `rawBody`) and above the payload
 * threshold (the runtime streams the body to object storage, the worker reads it with `payload.get` and checks
 * it); the stored bodies are gone once the requests are answered.
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { waitFor } from '../src/util.js'

const BODY_STEP = `
export const config = { type: 'api', name: 'Body', path: '/body', method: 'POST', emits: [] }
export const handler = async (req: any) => ({ status: 200, body: { body: req.body, rawLength: req.rawBody.length } })
`

const big = 600 * 1024
const cases: [string, string, (size: number) => { raw: Buffer; body: unknown }][] = [
  [
    'json',
    'application/json',
    (size) => {
      const doc = { items: Array.from({ length: Math.ceil(size / 40) }, (_, i) => ({ i, name: `item-${i}`, ok: i % 2 === 0 })), é: 'x', '10': 0 }
      return { raw: Buffer.from(JSON.stringify(doc)), body: JSON.parse(JSON.stringify(doc)) }
    },
  ],
  [
    'text',
    'text/plain; charset=utf-8',
    (size) => ({ raw: Buffer.from('ünïcode line\n'.repeat(Math.ceil(size / 14))), body: 'ünïcode line\n'.repeat(Math.ceil(size / 14)) }),
  ],
  ['form', 'application/x-www-form-urlencoded', (size) => ({ raw: Buffer.from(`a=${'x'.repeat(size)}&b=%20`), body: `a=${'x'.repeat(size)}&b=%20` })],
  ['binary', 'application/octet-stream', (size) => ({ raw: Buffer.alloc(size, 0xa5), body: null })],
]

function files(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
}

describe('request bodies through a Node worker', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'minimal'), extraFiles: { 'steps/body.step.ts': BODY_STEP } })

  for (const [kind, contentType, make] of cases) {
    for (const size of [100, big]) {
      it(`${kind}, ${size} bytes: the handler gets the body the runtime would have parsed`, async () => {
        const { raw, body } = make(size)
        const res = await dev.server.fetch('/body', { method: 'POST', headers: { 'content-type': contentType }, body: raw, timeoutMs: 30_000 })
        expect(res.status, res.text.slice(0, 300)).toBe(200)
        expect(res.json.body).toStrictEqual(body)
        expect(JSON.stringify(res.json.body)).toBe(JSON.stringify(body))
        expect(res.json.rawLength).toBe(raw.toString('utf8').length)
      })
    }
  }

  it('invalid JSON above the threshold is a 400, and no stored body remains', async () => {
    const res = await dev.server.fetch('/body', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `[${'1,'.repeat(big / 2)}]` })
    expect(res.status).toBe(400)
    expect(res.json.error.code).toBe('invalid_json')
    // The large bodies above went by reference: the runtime made its directory of stored bodies.
    const bodies = join(dev.server.dir, '.cfp', 'data', 'bodies')
    expect(existsSync(bodies)).toBe(true)
    await waitFor('stored bodies deleted', async () => (files(bodies).length === 0 ? true : undefined), { timeoutMs: 5000 })
  })
})
