import { createServer, type Server } from 'node:http'
import { afterAll, describe, expect, it } from 'vitest'
import { parseOptions, validateOptions } from './options.js'
import { createHarness, type Harness } from './test-support/harness.js'
import { tracesUrl } from './tracing.js'

// --- a minimal protobuf wire reader: enough to walk OTLP's ExportTraceServiceRequest by field number -----------
type Field = { no: number; wire: number; value: bigint | Uint8Array }
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = []
  let i = 0
  const varint = (): bigint => {
    let v = 0n
    let shift = 0n
    for (;;) {
      const b = buf[i++]
      if (b === undefined) throw new Error('truncated varint')
      v |= BigInt(b & 0x7f) << shift
      if (!(b & 0x80)) return v
      shift += 7n
    }
  }
  while (i < buf.length) {
    const key = Number(varint())
    const no = key >> 3
    const wire = key & 7
    if (wire === 0) out.push({ no, wire, value: varint() })
    else if (wire === 1) {
      out.push({ no, wire, value: buf.slice(i, i + 8) })
      i += 8
    } else if (wire === 2) {
      const n = Number(varint())
      out.push({ no, wire, value: buf.slice(i, i + n) })
      i += n
    } else if (wire === 5) {
      out.push({ no, wire, value: buf.slice(i, i + 4) })
      i += 4
    } else throw new Error(`wire type ${wire}`)
  }
  return out
}
const sub = (f: Field[], no: number) => f.filter((x) => x.no === no).map((x) => fields(x.value as Uint8Array))
const bytes = (f: Field[], no: number) => f.find((x) => x.no === no)?.value as Uint8Array | undefined
const hex = (b?: Uint8Array) => (b ? Buffer.from(b).toString('hex') : '')
const text = (b?: Uint8Array) => (b ? Buffer.from(b).toString('utf8') : '')

interface DecodedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  attributes: Record<string, string | number>
  service: string
}

/** Spans of an OTLP/HTTP protobuf body (opentelemetry/proto/collector/trace/v1: resource_spans = 1, …). */
function decode(body: Uint8Array): DecodedSpan[] {
  const out: DecodedSpan[] = []
  const attrs = (kvs: Field[][]) => {
    const a: Record<string, string | number> = {}
    for (const kv of kvs) {
      const value = sub(kv, 2)[0] ?? []
      const s = bytes(value, 1)
      const n = value.find((x) => x.no === 3)?.value
      a[text(bytes(kv, 1))] = s !== undefined ? text(s) : Number(n ?? 0)
    }
    return a
  }
  for (const rs of sub(fields(body), 1)) {
    const service = String(attrs(sub(sub(rs, 1)[0] ?? [], 1))['service.name'] ?? '')
    for (const ss of sub(rs, 2)) {
      for (const span of sub(ss, 2)) {
        out.push({
          traceId: hex(bytes(span, 1)),
          spanId: hex(bytes(span, 2)),
          parentSpanId: hex(bytes(span, 4)),
          name: text(bytes(span, 5)),
          kind: Number(span.find((x) => x.no === 6)?.value ?? 0),
          attributes: attrs(sub(span, 9)),
          service,
        })
      }
    }
  }
  return out
}

/** A loopback OTLP receiver keeping every body posted to /v1/traces. */
async function receiver(): Promise<{ url: string; bodies: { headers: Record<string, unknown>; body: Uint8Array }[]; server: Server }> {
  const bodies: { headers: Record<string, unknown>; body: Uint8Array }[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.method === 'POST') bodies.push({ headers: req.headers, body: new Uint8Array(Buffer.concat(chunks)) })
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const addr = server.address()
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, bodies, server }
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'

describe('control-plane OTLP traces', () => {
  const open: { close(): Promise<void> | void }[] = []
  afterAll(async () => {
    for (const o of open) await o.close()
  })

  it("exports one SERVER span per request, a child of the caller's traceparent, named by route pattern", async () => {
    const r = await receiver()
    open.push({ close: () => new Promise<void>((res) => r.server.close(() => res())) })
    const h: Harness = await createHarness({ options: { otlpEndpoint: r.url, otlpHeaders: { 'x-collector-key': 'k1' }, traceSampleRatio: 1 } })
    const withParent = await h.request('GET', '/v1/tenants/acme-1', { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } })
    expect(withParent.status).toBe(401)
    // The answer names the control plane's span, in the caller's trace.
    const tp = String(withParent.headers.traceparent ?? '')
    expect(tp).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`))
    expect((await h.request('GET', '/no/such/route')).status).toBe(404)
    await h.close() // flushes the batch processor
    const spans = r.bodies.flatMap((b) => decode(b.body))
    expect(r.bodies.every((b) => b.headers['content-type'] === 'application/x-protobuf' && b.headers['x-collector-key'] === 'k1')).toBe(true)
    const child = spans.find((s) => s.traceId === TRACE)
    expect(child).toMatchObject({
      parentSpanId: PARENT,
      name: 'GET /v1/tenants/:tenantId',
      kind: 2, // SPAN_KIND_SERVER
      service: 'cfp-control-plane',
      attributes: { 'http.request.method': 'GET', 'http.route': '/v1/tenants/:tenantId', 'http.response.status_code': 401, 'cfp.tenant': 'acme-1' },
    })
    expect(tp.split('-')[2]).toBe(child?.spanId)
    // A request no route matched: a new trace, named by method only (no raw path in any span).
    const unmatched = spans.find((s) => s.traceId !== TRACE && s.attributes['http.response.status_code'] === 404)
    expect(unmatched).toMatchObject({ name: 'GET', parentSpanId: '' })
    expect(JSON.stringify(spans)).not.toContain('/no/such/route')
  })

  it('ratio 0 exports no new trace but follows a sampled caller; an invalid traceparent starts a new trace', async () => {
    const r = await receiver()
    open.push({ close: () => new Promise<void>((res) => r.server.close(() => res())) })
    const h = await createHarness({ options: { otlpEndpoint: `${r.url}/v1/traces`, traceSampleRatio: 0 } })
    await h.request('GET', '/health')
    await h.request('GET', '/health', { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } })
    await h.request('GET', '/health', { headers: { traceparent: `00-${'0'.repeat(32)}-${PARENT}-01` } })
    await h.close()
    const spans = r.bodies.flatMap((b) => decode(b.body))
    expect(spans.map((s) => s.traceId)).toEqual([TRACE])
  })

  it('an unreachable collector never fails or slows requests', async () => {
    const h = await createHarness({ options: { otlpEndpoint: 'http://127.0.0.1:9', traceSampleRatio: 1 } })
    const t0 = performance.now()
    for (let i = 0; i < 20; i++) expect((await h.request('GET', '/health')).status).toBe(200)
    expect(performance.now() - t0).toBeLessThan(5000)
    const c0 = performance.now()
    await h.close() // the flush gives up after 3 s instead of failing the shutdown
    expect(performance.now() - c0).toBeLessThan(8000)
  })

  it('options: endpoint, headers and ratio are checked and named', () => {
    expect(tracesUrl('http://c:4318')).toBe('http://c:4318/v1/traces')
    expect(tracesUrl('http://c:4318/base/')).toBe('http://c:4318/base/v1/traces')
    expect(tracesUrl('https://c/v1/traces')).toBe('https://c/v1/traces')
    const env = { DATABASE_URL: 'postgres://x@127.0.0.1/db', CFP_CONTROL_MASTER_KEY: Buffer.alloc(32).toString('base64') }
    const parsed = parseOptions(
      ['--otlp-endpoint', 'http://127.0.0.1:4318', '--otlp-headers', 'x-api-key=a%3Db, tenant=t1', '--trace-sample-ratio', '0.25'],
      env,
    )
    expect(parsed.options).toMatchObject({ otlpEndpoint: 'http://127.0.0.1:4318', otlpHeaders: { 'x-api-key': 'a=b', tenant: 't1' }, traceSampleRatio: 0.25 })
    expect(() => parseOptions(['--trace-sample-ratio', '2'], env)).toThrow(/--trace-sample-ratio: a number from 0 to 1, got "2"/)
    expect(() => parseOptions(['--otlp-headers', 'no-equals'], env)).toThrow(/--otlp-headers: "no-equals" is not name=value/)
    for (const bad of ['ftp://c:4318', 'http://user:secret@c:4318', 'not a url']) {
      expect(() => validateOptions({ ...parsed.options, otlpEndpoint: bad })).toThrow(/--otlp-endpoint: .* must be an http\(s\) URL without credentials/)
    }
    expect(() => validateOptions({ ...parsed.options, otlpEndpoint: 'http://user:secret@c:4318' })).not.toThrow(/secret/)
  })
})
