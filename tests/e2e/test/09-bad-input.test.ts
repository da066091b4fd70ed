/**
 * Bad input gets clear answers: invalid JSON → 400 `invalid_json`; an unknown route → 404 JSON (and 405 with
 * `Allow` for a known path with another method); a body over CFP_BODY_LIMIT (set small through cfp dev's
 * environment) → 413, declared or streamed; an emit to a topic not in `emits` → the handler fails with an
 * error naming the allowed topics (in the API's 500, and in the logs and DLQ for an event step); a malformed
 * step file → an error naming the file and the key, while the other steps run.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { http, waitFor } from '../src/util.js'

const LIMIT = 1024

describe('bad input', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'bad-input'), env: { CFP_BODY_LIMIT: String(LIMIT) } })

  it('accepts a good request (the baseline)', async () => {
    const res = await dev.server.fetch('/echo', { method: 'POST', json: { a: 1 } })
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ received: { a: 1 } })
  })

  it('answers 400 invalid_json to a body that is not JSON', async () => {
    const res = await dev.server.fetch('/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a": 1,' })
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toMatch(/application\/json/)
    expect(res.json.error.code).toBe('invalid_json')
    expect(res.json.error.message).toMatch(/not valid JSON/)
    // without a content type (bytes: fetch adds none), a body that looks like JSON is parsed as JSON too
    const bare = await dev.server.fetch('/echo', { method: 'POST', body: new TextEncoder().encode('[1, 2') })
    expect(bare.status).toBe(400)
    expect(bare.json.error.code).toBe('invalid_json')
  })

  it('answers 404 JSON to an unknown route, and 405 to a wrong method', async () => {
    const res = await dev.server.fetch('/no/such/route')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toMatch(/application\/json/)
    expect(res.json).toEqual({ error: { code: 'not_found', message: 'no API step handles GET /no/such/route' } })
    const internal = await dev.server.fetch('/__cfp/api/nothing-here')
    expect(internal.status).toBe(404)
    expect(internal.json.error.code).toBe('no_endpoint')
    const wrong = await dev.server.fetch('/echo')
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toBe('POST')
    expect(wrong.json.error.code).toBe('method_not_allowed')
  })

  it(`answers 413 to a body over CFP_BODY_LIMIT (${LIMIT} bytes), with or without a Content-Length`, async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(LIMIT) })
    const res = await dev.server.fetch('/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: big })
    expect(res.status).toBe(413)
    expect(res.json.error.code).toBe('body_too_large')
    expect(res.json.error.message).toContain(String(LIMIT))

    // streamed (chunked, no Content-Length)
    const chunks = [big.slice(0, 600), big.slice(600)]
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift()
        if (next === undefined) controller.close()
        else controller.enqueue(new TextEncoder().encode(next))
      },
    })
    const streamed = await http(`${dev.server.url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit)
    expect(streamed.status).toBe(413)
    expect(streamed.json.error.code).toBe('body_too_large')

    // just under the limit is fine
    const fits = JSON.stringify({ pad: 'x'.repeat(LIMIT - 20) })
    expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(LIMIT)
    expect((await dev.server.fetch('/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: fits })).status).toBe(200)
  })

  it('fails an API handler that emits an undeclared topic, naming the allowed topics', async () => {
    const res = await dev.server.fetch('/wrong-emit', { method: 'POST', json: {} })
    expect(res.status).toBe(500)
    // Motia's answer, plus CFP's code; under `cfp dev` the exception text too
    expect(res.json.error).toBe('Internal server error')
    expect(res.json.code).toBe('handler_error')
    expect(res.json.message).toContain("emitted topic 'undeclared.topic'")
    expect(res.json.message).toContain("Allowed topics: 'declared.topic', 'other.declared'")
  })

  it('fails an event handler that emits an undeclared topic; the logs and the DLQ name the allowed topics', async () => {
    const { traceId } = await dev.server.emit('wrong.emit', {})
    const entry = await waitFor('the dead letter', async () => {
      const res = await dev.server.fetch('/__cfp/api/dlq?step=WrongEmitEvent')
      return (res.json.items as Array<{ traceId: string; error: { message: string } }>).find((e) => e.traceId === traceId)
    })
    expect(entry.error.message).toContain("Allowed topics: 'declared.topic'")
    // Log lines are written in batches after the dead letter commits: wait for the runtime's line.
    const line = await waitFor('the dead-letter log line', async () => {
      const logs = await dev.server.logs({ traceId })
      return logs.find((l) => l.level === 'error' && l.msg.includes("emitted topic 'undeclared.topic'") && l.msg.includes("Allowed topics: 'declared.topic'"))
    })
    expect(line.step).toBe('WrongEmitEvent')
  })

  it('rejects a malformed step file with an error naming the file and the key; the other steps run', async () => {
    const out = dev.server.output()
    expect(out).toMatch(/\[worker\]\s+cfp-worker: steps\/malformed\.step\.ts: config\.colour: .*/)
    expect(out).toMatch(/cfp-worker: registered 3 steps \(1 errors\)/)
    const steps = (await dev.server.fetch('/__cfp/api/steps')).json.steps as Array<{ name: string }>
    expect(steps.map((s) => s.name).sort()).toEqual(['Echo', 'WrongEmit', 'WrongEmitEvent'])
    expect((await dev.server.fetch('/malformed')).status).toBe(404)
    expect((await dev.server.fetch('/echo', { method: 'POST', json: 'still here' })).json).toEqual({ received: 'still here' })
    const logs = await dev.server.logs({ level: 'error', q: 'malformed.step.ts' })
    expect(logs.some((l) => l.msg.startsWith('steps/malformed.step.ts: config.colour') && l.data?.file === 'steps/malformed.step.ts')).toBe(true)
  })
})
