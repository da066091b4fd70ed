/**
 * A handler's `req.body` is the same whatever form the runtime sent the body in: parsed (protocol 1, `body`), as
 * bytes to parse (protocol 2, `bodyFrom` + `rawBody`), or stored (protocol 2 above the payload threshold,
 * `bodyFrom` + `rawBodyRef`, read with `payload.get` and checked) — for JSON, text, form and binary bodies.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiInput } from '../frame-types.js'
import { FakeRuntime, tempProject } from '../test-support/fake-runtime.js'
import { startWorker, type WorkerHandle } from './worker.js'

const big = 300 * 1024
const kinds: [string, string, 'json' | 'text' | 'none', (size: number) => { raw: Buffer; body: unknown }][] = [
  [
    'json',
    'application/json',
    'json',
    (size) => {
      const doc = { items: Array.from({ length: Math.ceil(size / 40) }, (_, i) => ({ i, name: `item-${i}`, ok: i % 2 === 0 })), é: 'x' }
      return { raw: Buffer.from(JSON.stringify(doc)), body: doc }
    },
  ],
  [
    'text',
    'text/plain',
    'text',
    (size) => {
      const text = 'ünïcode line\n'.repeat(Math.ceil(size / 14))
      return { raw: Buffer.from(text), body: text }
    },
  ],
  [
    'form',
    'application/x-www-form-urlencoded',
    'text',
    (size) => {
      const form = `a=${'x'.repeat(size)}&b=%20`
      return { raw: Buffer.from(form), body: form }
    },
  ],
  ['binary', 'application/octet-stream', 'none', (size) => ({ raw: Buffer.alloc(size, 0xa5), body: null })],
]

describe("a handler's req.body in every form of the body", () => {
  let runtime: FakeRuntime
  let worker: WorkerHandle
  let project: { dir: string; cleanup: () => void }

  beforeAll(async () => {
    runtime = await FakeRuntime.start()
    project = tempProject('body-project')
    worker = await startWorker({ dir: project.dir, url: runtime.url, token: runtime.token, name: 'bodies', printLogs: false, print: () => {} })
    await runtime.waitFor((f) => f.type === 'register')
  })

  afterAll(async () => {
    await worker.stop()
    await runtime.close()
    project.cleanup()
  })

  const base = (contentType: string): Omit<ApiInput, 'rawBody'> => ({
    method: 'POST',
    path: '/body',
    pathParams: {},
    queryParams: {},
    headers: { 'content-type': contentType },
  })
  const run = async (input: ApiInput) => {
    const r = await runtime.invoke({ step: 'Body', trigger: 'api', input })
    expect(r.ok, JSON.stringify(r.error)).toBe(true)
    return r.output as { status: number; body: { body: unknown; rawLength: number } }
  }

  for (const [kind, contentType, bodyFrom, make] of kinds) {
    for (const size of [64, big]) {
      it(`${kind}, ${size} bytes`, async () => {
        const { raw, body } = make(size)
        const rawBody = raw.toString('base64')
        const v1 = await run({ ...base(contentType), body, rawBody })
        const v2 = await run({ ...base(contentType), bodyFrom, rawBody })
        expect(v2).toStrictEqual(v1)
        expect(JSON.stringify(v2.body.body)).toBe(JSON.stringify(body))
        expect(v1.body.rawLength).toBe(raw.toString('utf8').length)
        if (size < big) return
        const key = `bodies/t/p/${kind}`
        runtime.bodies.set(key, raw)
        const sha256 = createHash('sha256').update(raw).digest('hex')
        const from = runtime.frames.length
        const stored = await run({ ...base(contentType), bodyFrom, rawBodyRef: { key, size: raw.length, sha256 } })
        expect(stored).toStrictEqual(v1)
        const reads = runtime.frames.slice(from).filter((f) => f.type === 'call' && f.method === 'payload.get')
        expect(reads.length).toBe(Math.ceil(raw.length / 262144))
      })
    }
  }

  it('fails the invocation when the stored body is not the one referenced', async () => {
    const raw = Buffer.from('{"a":1}')
    runtime.bodies.set('bodies/t/p/tampered', raw)
    const r = await runtime.invoke({
      step: 'Body',
      trigger: 'api',
      input: { ...base('application/json'), bodyFrom: 'json', rawBodyRef: { key: 'bodies/t/p/tampered', size: raw.length, sha256: '0'.repeat(64) } },
    })
    expect(r.ok).toBe(false)
    expect(r.error?.message).toMatch(/not the one referenced/)
    const missing = await runtime.invoke({
      step: 'Body',
      trigger: 'api',
      input: { ...base('application/json'), bodyFrom: 'json', rawBodyRef: { key: 'bodies/t/p/none', size: 3, sha256: '0'.repeat(64) } },
    })
    expect(missing.ok).toBe(false)
  })
})
