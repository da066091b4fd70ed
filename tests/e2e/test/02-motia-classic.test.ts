/**
 * examples/motia-classic — a project written exactly like a classic Motia 0.17 app — runs unchanged under
 * `cfp dev`: API steps with middleware (request id, the handler's 400 passing through it), path and query
 * parameters, state, the FIFO reservation flow with conditional emits, retries and the dead-letter queue; and
 * `cfp generate-types` writes a types.d.ts with which the project type-checks (strictly: wrong statuses and
 * undeclared topics are type errors).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { EXAMPLES, REPO_ROOT, TSC } from '../src/env.js'
import { runNode, waitFor } from '../src/util.js'

interface Order {
  id: string
  customerId: string
  status: string
  total: number
}

describe('examples/motia-classic under cfp dev', () => {
  const dev = useDevProject({ source: join(EXAMPLES, 'motia-classic'), args: [], env: { CFP_RETRY_BASE_MS: '50' } })
  const tag = randomBytes(3).toString('hex')

  async function createOrder(customerId: string, items: unknown[], headers: Record<string, string> = {}) {
    return dev.server.fetch('/orders', { method: 'POST', json: { customerId, items }, headers })
  }

  async function orderStatus(id: string, want: string): Promise<Order> {
    return waitFor(`order ${id} to be ${want}`, async () => {
      const res = await dev.server.fetch(`/orders/${id}`)
      return res.status === 200 && res.json.status === want && (res.json as Order)
    })
  }

  it('loads every step of the project (the noop included) without errors', async () => {
    const res = await dev.server.fetch('/__cfp/api/steps')
    const names = (res.json.steps as Array<{ name: string }>).map((s) => s.name).sort()
    expect(names).toEqual([
      'ChargePayment',
      'CreateOrder',
      'ExpirePendingOrders',
      'GetOrder',
      'OrderExpired',
      'ReserveInventory',
      'SendConfirmation',
      'WarehousePicking',
    ])
    expect(dev.server.output()).toMatch(/cfp-worker: registered \d+ steps \(0 errors\)/)
  })

  it('POST /orders → 201 through both middlewares; the order is reserved, paid and confirmed', async () => {
    const res = await createOrder(`c-${tag}`, [{ sku: `book-${tag}`, quantity: 2, unitPrice: 12.5 }], { 'x-request-id': `req-${tag}` })
    expect(res.status).toBe(201)
    expect(res.json).toMatchObject({ total: 25, status: 'pending' })
    expect(res.json.id).toMatch(/^ord_/)
    // requestLogger put the request id on the response
    expect(res.headers.get('x-request-id')).toBe(`req-${tag}`)

    const order = await orderStatus(res.json.id, 'paid')
    expect(order).toMatchObject({ customerId: `c-${tag}`, total: 25 })
    const confirmations = await waitFor('the confirmation', () => dev.db.state<string[]>('confirmations', order.id))
    expect(confirmations).toEqual([`Order ${order.id} is paid (25). Thank you!`])
    expect(await dev.db.state('stock', `book-${tag}`)).toBe(98)
  })

  it('answers the 400 of an invalid order through the middleware chain (which adds x-request-id)', async () => {
    const res = await createOrder('', [])
    expect(res.status).toBe(400)
    expect(res.json.error).toBe('Invalid order')
    expect(Array.isArray(res.json.issues) && res.json.issues.length).toBeGreaterThan(0)
    expect(res.headers.get('x-request-id')).toMatch(/^[a-z0-9]{1,8}$/)
  })

  it('GET /orders/:id with a query parameter, and 404 for an unknown id', async () => {
    const created = await createOrder(`q-${tag}`, [{ sku: `pen-${tag}`, quantity: 1, unitPrice: 3 }])
    expect(created.status).toBe(201)
    const picked = await dev.server.fetch(`/orders/${created.json.id}?fields=id,total`)
    expect(picked.status).toBe(200)
    expect(picked.json).toEqual({ id: created.json.id, total: 3 })
    expect(picked.headers.get('x-request-id')).toBeTruthy()

    const missing = await dev.server.fetch('/orders/ord_nope')
    expect(missing.status).toBe(404)
    expect(missing.json).toEqual({ error: 'No order ord_nope' })
  })

  it('reserves stock one order at a time per customer (FIFO): the first three fit, the last two do not', async () => {
    const sku = `widget-${tag}`
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const res = await createOrder(`fifo-${tag}`, [{ sku, quantity: 30, unitPrice: 1 }])
      expect(res.status).toBe(201)
      ids.push(res.json.id)
    }
    for (const id of ids.slice(0, 3)) await orderStatus(id, 'paid')
    for (const id of ids.slice(3)) {
      const sent = await waitFor(`the out-of-stock confirmation of ${id}`, () => dev.db.state<string[]>('confirmations', id))
      expect(sent).toEqual([`Order ${id} could not be filled: out of ${sku}`])
      expect((await dev.server.fetch(`/orders/${id}`)).json.status).toBe('pending')
    }
    expect(await dev.db.state('stock', sku)).toBe(10)
  })

  it('retries a failing payment twice, then dead-letters it', async () => {
    const res = await createOrder(`rich-${tag}`, [{ sku: `car-${tag}`, quantity: 1, unitPrice: 25_000 }])
    expect(res.status).toBe(201)
    const id = res.json.id as string
    const entry = await waitFor('the dead letter of ChargePayment', async () => {
      const list = await dev.server.fetch('/__cfp/api/dlq?step=ChargePayment')
      return (list.json.items as Array<{ data: { orderId: string }; attempts: number; error: { message: string } }>).find((e) => e.data.orderId === id)
    })
    expect(entry.attempts).toBe(3)
    expect(entry.error.message).toBe(`Payment declined for ${id}: amount 25000 over the limit`)
    expect((await dev.server.fetch(`/orders/${id}`)).json.status).toBe('reserved')
  })

  it('cfp generate-types writes types with which the project type-checks strictly', async () => {
    const dir = dev.server.dir
    const gen = await dev.server.cli(['generate-types', '--dir', dir])
    expect(gen.code, gen.stderr).toBe(0)
    const types = readFileSync(join(dir, 'types.d.ts'), 'utf8')
    for (const step of ['ChargePayment', 'CreateOrder', 'ExpirePendingOrders', 'GetOrder', 'OrderExpired', 'ReserveInventory', 'SendConfirmation']) {
      expect(types).toContain(`'${step}': `)
    }
    expect(types).not.toContain("'WarehousePicking'")

    // A probe beside the steps: correct code compiles, and each @ts-expect-error must meet a real error, so
    // types that degraded to `any` fail the check too.
    writeFileSync(
      join(dir, 'src', 'e2e-type-probe.ts'),
      [
        "import { Handlers } from 'motia'",
        "export const fine: Handlers['GetOrder'] = async () => ({ status: 404, body: { error: 'gone' } })",
        '// @ts-expect-error 418 is not a declared response of CreateOrder',
        "export const wrongStatus: Handlers['CreateOrder'] = async () => ({ status: 418, body: { error: 'teapot' } })",
        "export const wrongTopic: Handlers['ReserveInventory'] = async (input, { emit }) => {",
        '  // @ts-expect-error ReserveInventory does not emit this topic',
        "  await emit({ topic: 'order.teleported', data: { orderId: input.orderId } })",
        '}',
        "export const wrongInput: Handlers['ChargePayment'] = async (input) => {",
        '  // @ts-expect-error ChargePayment input has no total',
        '  input.total.toFixed()',
        '}',
        '',
      ].join('\n'),
    )
    const tsc = await runNode([TSC, '-p', join(dir, 'tsconfig.json'), '--noEmit'], { cwd: REPO_ROOT, timeoutMs: 90_000 })
    expect(tsc.code, `${tsc.stdout}\n${tsc.stderr}`).toBe(0)
  })
})
