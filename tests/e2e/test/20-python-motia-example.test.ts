/**
 * Motia's Python starter project (fixtures/motia-python-petstore, a faithful reproduction of Motia 0.17's
 * `python` template) under `cfp dev` with its step files unchanged; its pet store is a loopback fake. Its API
 * step calls the store and emits, the event step stores the order in state and emits, the notification step
 * logs; the weekly cron step registers. Test-only Python steps check, in the same project: a signed webhook
 * (verified, claimed, replay refused), OpenTelemetry child spans reaching the runtime's OTLP export in the
 * request's trace, and a CPU-bound sync handler that does not stall the Python worker.
 */
import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { waitFor } from '../src/util.js'

const HOOK = `config = {
    "type": "api", "name": "SignedHook", "path": "/checks/hook", "method": "POST", "emits": [],
    "webhook": {"secret": "PETSTORE_HOOK_SECRET", "header": "x-hub-signature-256", "prefix": "sha256="},
}

async def handler(req, context):
    await context.state.set("hooks", req.body["delivery"], req.body)
    return {"status": 200, "body": {"accepted": req.body["delivery"]}}
`
const TRACED = `from opentelemetry import trace

config = {"type": "api", "name": "TracedPy", "path": "/checks/traced", "method": "GET", "emits": []}

async def handler(req, context):
    with trace.get_tracer("petstore.checks").start_as_current_span("py child span", attributes={"pet.kind": "dog"}):
        return {"status": 200, "body": {"traceId": context.trace_id}}
`
const SPIN = `import time

config = {"type": "api", "name": "SpinPy", "path": "/checks/spin", "method": "GET", "emits": []}

def handler(req, context):
    end = time.monotonic() + 2
    while time.monotonic() < end:
        pass
    return {"status": 200, "body": {"spun": True}}
`

const body = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve) => {
    const parts: Buffer[] = []
    req.on('data', (c: Buffer) => parts.push(c))
    req.on('end', () => resolve(Buffer.concat(parts)))
  })

const listen = async (server: Server): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

// The pet store the template calls (API_URL), faked on loopback; and an OTLP/HTTP receiver for the runtime's export.
const storeCalls: Array<{ path: string; body: any }> = []
const store = createServer(async (req, res) => {
  const json = JSON.parse((await body(req)).toString() || '{}')
  storeCalls.push({ path: req.url ?? '', body: json })
  const n = storeCalls.length
  const out =
    req.url === '/pet'
      ? { id: `pet-${n}`, name: json.name, photoUrls: json.photoUrls, status: json.status }
      : { id: `order-${n}`, quantity: json.quantity, petId: json.petId, shipDate: json.shipDate, status: json.status, complete: false }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out))
})
const exports: Buffer[] = []
const otlp = createServer(async (req, res) => {
  exports.push(await body(req))
  res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
})
const storePort = await listen(store)
const otlpPort = await listen(otlp)
const SECRET = 'pet-hook-secret'

describe("Motia's Python starter project runs unchanged (fixtures/motia-python-petstore)", () => {
  const dev = useDevProject({
    source: join(FIXTURES, 'motia-python-petstore'),
    env: { API_URL: `http://127.0.0.1:${storePort}`, PETSTORE_HOOK_SECRET: SECRET, CFP_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}` },
    extraFiles: { 'src/checks/hook_step.py': HOOK, 'src/checks/traced_step.py': TRACED, 'src/checks/spin_step.py': SPIN },
    readyTimeoutMs: 150_000,
  })

  beforeAll(async () => {
    await dev.server.proc.waitForLine(/^\[python\]\s+cfp-worker-py: registered \d+ steps/, 60_000)
  }, 70_000)
  afterAll(() => {
    store.close()
    otlp.close()
  })

  it('registers the template steps from src/ with their pydantic schemas', async () => {
    const res = await dev.server.fetch('/__cfp/api/steps')
    const steps = res.json.steps as Array<{ name: string; type: string; cron?: string; flows?: string[] }>
    expect(steps.map((s) => s.name).sort()).toEqual(['ApiTrigger', 'Notification', 'ProcessFoodOrder', 'SignedHook', 'SpinPy', 'StateAuditJob', 'TracedPy'])
    expect(steps.find((s) => s.name === 'StateAuditJob')).toMatchObject({ type: 'cron', cron: '0 0 * * 1', flows: ['basic-tutorial'] })
    expect(dev.server.output()).toMatch(/\[python\]\s+cfp-worker-py: registered 7 steps \(0 errors\)/)
    expect(dev.server.output()).not.toMatch(/Traceback|rejected/)
  })

  it('runs the API → process-food-order → notification flow against the fake pet store', async () => {
    const res = await dev.server.fetch('/basic-tutorial', {
      method: 'POST',
      json: { pet: { name: 'Rex', photoUrl: 'http://img.test/rex.png' }, foodOrder: { quantity: 3 } },
    })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ id: expect.stringMatching(/^pet-\d+$/), name: 'Rex', photoUrls: ['http://img.test/rex.png'], status: 'available' })
    const traceId = res.json.traceId as string
    expect(res.headers.get('x-trace-id')).toBe(traceId)
    const petId = res.json.id as string
    expect(storeCalls.find((c) => c.path === '/pet')?.body).toEqual({ name: 'Rex', photoUrls: ['http://img.test/rex.png'], status: 'available' })
    // the event step created the order and stored it in state under its id
    const orderCall = await waitFor('the order call', () => storeCalls.find((c) => c.path === '/store/order'))
    expect(orderCall.body).toMatchObject({ quantity: 3, petId, status: 'placed' })
    const orderId = `order-${storeCalls.indexOf(orderCall) + 1}`
    const order = await waitFor('the stored order', () => dev.db.state<Record<string, unknown>>('orders_python', orderId))
    expect(order).toMatchObject({ id: orderId, quantity: 3, petId, status: 'placed', complete: false })
    // the notification step logged, in the same trace, with SAMPLE_EMAIL from .env redacted
    const logs = await waitFor('the notification log', async () => {
      const lines = await dev.server.logs({ traceId })
      return lines.some((l) => l.step === 'Notification' && l.msg === 'New notification sent') && lines
    })
    expect(logs.find((l) => l.msg === 'New notification sent')?.data).toMatchObject({
      template_id: 'new-order',
      email: 'sa****@example.com',
      template_data: { id: orderId, pet_id: petId, quantity: 3, status: 'placed' },
    })
    expect(logs.map((l) => l.step)).toEqual(expect.arrayContaining(['ApiTrigger', 'ProcessFoodOrder', 'Notification']))
  })

  it('does not enforce bodySchema, as Motia does not: the handler gets the body as sent', async () => {
    const res = await dev.server.fetch('/basic-tutorial', { method: 'POST', json: { pet: { name: 'NoPhoto' } } })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ name: 'NoPhoto', photoUrls: [''] })
  })

  it('verifies a Python webhook step: signed once accepted, replay 409, bad signature 401', async () => {
    const payload = JSON.stringify({ delivery: 'd-1', action: 'opened' })
    const sig = `sha256=${createHmac('sha256', SECRET).update(payload).digest('hex')}`
    const send = (signature: string, text = payload) =>
      dev.server.fetch('/checks/hook', { method: 'POST', body: text, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature } })
    const ok = await send(sig)
    expect(ok.status).toBe(200)
    expect(ok.json).toEqual({ accepted: 'd-1' })
    expect(await dev.db.state('hooks', 'd-1')).toEqual({ delivery: 'd-1', action: 'opened' })
    const again = await send(sig)
    expect(again.status).toBe(409)
    expect(again.json.error.code).toBe('webhook_replayed')
    const forged = await send(sig, JSON.stringify({ delivery: 'd-2', action: 'forged' }))
    expect(forged.status).toBe(401)
    expect(forged.json.error.code).toBe('invalid_signature')
    expect(await dev.db.state('hooks', 'd-2')).toBeUndefined()
  })

  it("exports a Python handler's OpenTelemetry span as a child in the request's trace", async () => {
    const res = await dev.server.fetch('/checks/traced')
    expect(res.status).toBe(200)
    const traceId = res.json.traceId as string
    const w3c = Buffer.from(traceId.replaceAll('-', ''), 'hex')
    // the attempt is in the runtime's trace store; the child span is in what the runtime exports over OTLP
    const trace = await waitFor('the trace', async () => {
      const t = await dev.server.fetch(`/__cfp/api/traces/${traceId}`)
      return t.status === 200 && t.json
    })
    expect(trace.spans.map((s: { step: string }) => s.step)).toContain('TracedPy')
    const batch = await waitFor('an OTLP export with the child span', () => exports.find((b) => b.includes(Buffer.from('py child span')) && b.includes(w3c)), {
      timeoutMs: 15_000,
    })
    for (const text of ['cfp-worker', 'pet.kind', 'dog']) expect(batch.includes(Buffer.from(text))).toBe(true)
  })

  it('keeps serving Python steps while a sync handler spins for 2 s', async () => {
    const started = Date.now()
    const spin = dev.server.fetch('/checks/spin', { timeoutMs: 20_000 })
    await new Promise((r) => setTimeout(r, 300))
    const quick = await dev.server.fetch('/checks/traced')
    const quickMs = Date.now() - started
    expect(quick.status).toBe(200)
    const spun = await spin
    expect(spun.status).toBe(200)
    expect(spun.json).toEqual({ spun: true })
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000)
    expect(quickMs).toBeLessThan(1_800)
  })
})
