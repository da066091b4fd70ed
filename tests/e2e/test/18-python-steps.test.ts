/**
 * examples/mixed under `cfp dev`: a Python worker next to the Node worker (its .cfp/venv created on the first
 * start). TS API → Python event → TS event under one trace; state and a stream item written from Python read by
 * TypeScript (a step and a stream client); a Python step failing twice then succeeding on attempt 3 (traceback in
 * the step's log, never in an API response); a FIFO group applied in order in Python; a Python cron step; a
 * 300 KiB payload through Python; the Python worker SIGKILLed mid-handler: the delivery is retried, nothing lost.
 */
import { randomBytes } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { useDevProject } from '../src/dev-server.js'
import { EXAMPLES } from '../src/env.js'
import { readProc } from '../src/procs.js'
import { sleep, waitFor } from '../src/util.js'

// Test-only steps written into the copy: an every-second Python cron step and a Python API step that raises.
const TICK = `config = {"type": "cron", "name": "PyTick", "cron": "* * * * * *", "emits": []}

async def handler(context):
    await context.state.set("py-ticks", context.idempotency_key, {"trace": context.trace_id})
`
const BOOM = `config = {"type": "api", "name": "PyBoom", "path": "/boom", "method": "GET", "emits": []}

async def handler(req, context):
    secret_local = "do-not-leak"
    raise ValueError("boom from python")
`

interface Receipt {
  id: string
  total: number
  pricedTotal: number | null
  statusSeen: string | null
  noteIntact: boolean
}

describe('TypeScript and Python steps in one project (examples/mixed)', () => {
  const dev = useDevProject({
    source: join(EXAMPLES, 'mixed'),
    env: { CFP_RETRY_BASE_MS: '50' },
    extraFiles: { 'steps/py_tick_step.py': TICK, 'steps/py_boom_step.py': BOOM },
    readyTimeoutMs: 120_000,
  })
  const uid = randomBytes(3).toString('hex')

  beforeAll(async () => {
    await dev.server.proc.waitForLine(/^\[python\]\s+cfp-worker-py: registered \d+ steps/, 60_000)
  }, 70_000)

  const order = (id: string, extra: Record<string, unknown> = {}) =>
    dev.server.fetch('/orders', {
      method: 'POST',
      json: {
        id,
        items: [
          { sku: 'a', qty: 2, price: 1.25 },
          { sku: 'b', qty: 1, price: 7 },
        ],
        ...extra,
      },
    })
  const receipt = (id: string, timeoutMs = 20_000) =>
    waitFor(`the receipt of ${id}`, () => dev.db.state<Receipt>('receipts', id), { timeoutMs, intervalMs: 100 })

  it('creates the Python environment and registers Python and TypeScript steps side by side', async () => {
    const out = dev.server.output()
    expect(out).toMatch(/\[python\]\s+creating the Python environment \.cfp\/venv/)
    expect(out).toMatch(/\[python\]\s+Python environment ready/)
    const res = await dev.server.fetch('/__cfp/api/steps')
    const names = (res.json.steps as Array<{ name: string }>).map((s) => s.name).sort()
    expect(names).toEqual(['ApplyLedgerEntry', 'GetOrder', 'OrderAudit', 'PlaceOrder', 'PriceOrder', 'PyBoom', 'PyTick', 'RecordReceipt'])
  })

  it('runs TS API → Python event → TS event; TypeScript reads the state and stream Python wrote', async () => {
    const id = `o-${uid}`
    const res = await order(id, { note: 'hello' })
    expect(res.status).toBe(202)
    const traceId = res.json.traceId as string
    const r = await receipt(id)
    expect(r).toEqual({ id, total: 9.5, pricedTotal: 9.5, statusSeen: 'priced', noteIntact: true })
    const got = await dev.server.fetch(`/orders/${id}`)
    expect(got.status).toBe(200)
    expect(got.json.order).toMatchObject({ id, total: 9.5, attempt: 1 })
    expect(got.json.status).toMatchObject({ status: 'receipted', total: 9.5 })
    // one trace across the three steps and two languages
    const logs = await waitFor('the logs of the trace', async () => {
      const lines = await dev.server.logs({ traceId })
      return ['PlaceOrder', 'PriceOrder', 'RecordReceipt'].every((s) => lines.some((l) => l.step === s)) && lines
    })
    expect(logs.find((l) => l.step === 'PriceOrder' && l.msg === 'Order priced')?.data).toMatchObject({ id, total: 9.5 })
    // a TypeScript stream client joining the item gets what the flow wrote
    const ws = new WebSocket(dev.server.url.replace('http', 'ws'))
    const sync = await new Promise<any>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no sync message')), 5_000)
      ws.on('open', () => ws.send(JSON.stringify({ type: 'join', data: { streamName: 'orderStatus', groupId: 'orders', id, subscriptionId: 's1' } })))
      ws.on('message', (m) => {
        clearTimeout(t)
        resolve(JSON.parse(m.toString()))
      })
      ws.on('error', reject)
    })
    ws.close()
    expect(sync.event).toEqual({ type: 'sync', data: expect.objectContaining({ id, status: 'receipted', total: 9.5 }) })
  })

  it('retries a Python step that fails twice; attempt 3 succeeds and the tracebacks are in its log', async () => {
    const id = `f-${uid}`
    expect((await order(id, { failTimes: 2 })).status).toBe(202)
    const r = await receipt(id)
    expect(r.total).toBe(9.5)
    expect(await dev.db.state('order-attempts', id)).toBe(3)
    expect((await dev.db.state<{ attempt: number }>('orders', id))?.attempt).toBe(3)
    const errors = await waitFor('two error lines of PriceOrder', async () => {
      const lines = (await dev.server.logs({ step: 'PriceOrder', level: 'error' })).filter((l) => l.msg.includes(`order ${id}`))
      return lines.length >= 2 && lines
    })
    expect(errors[0]?.msg).toMatch(/^RuntimeError: simulated failure on attempt [12] of order/)
    expect(errors[0]?.data.stack).toMatch(/Traceback[\s\S]*price_order_step\.py", line \d+, in handler/)
  })

  it('answers an API caller with the error message only, never the traceback', async () => {
    const res = await dev.server.fetch('/boom')
    expect(res.status).toBe(500)
    // cfp dev: Motia's shape plus the message (production answers without it; docs/errors.md)
    expect(res.json).toMatchObject({ error: 'Internal server error', code: 'handler_error' })
    expect(res.json.message).toContain('boom from python')
    expect(res.text).not.toMatch(/Traceback|py_boom_step|do-not-leak/)
    const lines = await waitFor('the traceback in the log', async () => {
      const l = (await dev.server.logs({ step: 'PyBoom', level: 'error' })).filter((x) => x.msg === 'ValueError: boom from python')
      return l.length > 0 && l
    })
    expect(lines[0]?.data.stack).toContain('py_boom_step.py')
  })

  it('applies a FIFO message group in order in Python', async () => {
    const account = `acct-${uid}`
    for (let seq = 1; seq <= 8; seq++) await dev.server.emit('ledger.entry', { account, seq }, account)
    const ledger = await waitFor('all 8 entries', async () => {
      const v = await dev.db.state<{ entries: number[] }>('ledgers', account)
      return v && v.entries.length === 8 && v
    })
    expect(ledger.entries).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
  })

  it('runs a Python cron step', async () => {
    const ticks = await waitFor('two Python cron runs', async () => {
      const rows = await dev.db.stateGroup('py-ticks')
      return rows.length >= 2 && rows
    })
    expect(new Set(ticks.map(([k]) => k)).size).toBe(ticks.length)
  })

  it('restarts the Python worker when a .py file is saved, with the new code', async () => {
    const mark = dev.server.proc.lines.length
    const file = join(dev.server.dir, 'steps', 'py_added_step.py')
    writeFileSync(file, 'config = {"type": "event", "name": "PyAdded", "subscribes": ["added"], "emits": []}\n\nasync def handler(input, context):\n    pass\n')
    await dev.server.proc.waitForLine(/^\[python\].*py_added_step\.py changed; restarting the Python worker/, 10_000, mark)
    await dev.server.proc.waitForLine(/^\[python\]\s+cfp-worker-py: registered 6 steps/, 20_000, mark)
    const res = await dev.server.fetch('/__cfp/api/steps')
    expect((res.json.steps as Array<{ name: string }>).map((s) => s.name)).toContain('PyAdded')
    // a broken save is reported with file and line; the other steps stay registered
    writeFileSync(file, 'config = {"type": "event", "name": "PyAdded",\n  "subscribes": ["added"] "emits": []}\n')
    await dev.server.proc.waitForLine(/^\[python\]\s+cfp-worker-py: steps\/py_added_step\.py:2: failed to load: syntax error/, 20_000, mark)
    await dev.server.proc.waitForLine(/^\[python\]\s+cfp-worker-py: registered 5 steps \(1 errors\)/, 20_000, mark)
    rmSync(file)
    await dev.server.proc.waitForLine(/^\[python\]\s+cfp-worker-py: registered 5 steps \(0 errors\)/, 20_000, mark)
  })

  it('carries a 300 KiB payload through a Python step intact', async () => {
    const id = `big-${uid}`
    const note = 'x'.repeat(300 * 1024 - 3) + 'end'
    expect((await order(id, { note })).status).toBe(202)
    const r = await receipt(id)
    expect(r.noteIntact).toBe(true)
    expect(await dev.db.state('orders', id)).toMatchObject({ noteBytes: 300 * 1024 })
  })

  it('retries a delivery whose Python worker was SIGKILLed mid-handler; nothing is lost', async () => {
    const id = `k-${uid}`
    const mark = dev.server.proc.lines.length
    expect((await order(id, { slowMs: 8_000 })).status).toBe(202)
    const pid = await waitFor('the Python worker pid', () => dev.db.state<number>('python-pids', id))
    expect(readProc(pid)?.comm).toMatch(/python/)
    process.kill(pid, 'SIGKILL')
    await dev.server.proc.waitForLine(/the Python worker exited \(signal SIGKILL\); restarting it/, 10_000, mark)
    await dev.server.proc.waitForLine(/^\[python\]\s+cfp-worker-py: registered \d+ steps/, 30_000, mark)
    const r = await receipt(id, 30_000)
    expect(r.total).toBe(9.5)
    expect(await dev.db.state('order-attempts', id)).toBe(2)
    // the receipt step ran once: its log line (written after its state) shows up, and no second one follows
    const mine = async () => (await dev.server.logs({ step: 'RecordReceipt' })).filter((l) => l.msg === 'Receipt recorded' && l.data?.id === id)
    await waitFor('the receipt log line', async () => (await mine()).length > 0)
    await sleep(500)
    expect(await mine()).toHaveLength(1)
  })
})

describe('a project with Python steps and no usable Python', () => {
  const dev = useDevProject({ source: join(EXAMPLES, 'mixed'), env: { CFP_PYTHON: '/nonexistent/python3' } })

  it('says which command fixes it and runs the TypeScript steps', async () => {
    const out = dev.server.output()
    expect(out).toMatch(/\[python\]\s+error: No usable Python 3\.10\+ interpreter .*\/nonexistent\/python3: not found/)
    expect(out).toMatch(/\[python\]\s+→ Install Python 3\.10\+ with venv \(`sudo apt-get install python3 python3-venv`/)
    expect(out).toMatch(/continuing without the Python worker/)
    const steps = await dev.server.fetch('/__cfp/api/steps')
    expect((steps.json.steps as Array<{ name: string }>).map((s) => s.name).sort()).toEqual(['GetOrder', 'PlaceOrder', 'RecordReceipt'])
    const res = await dev.server.fetch('/orders', { method: 'POST', json: { id: 'x1', items: [{ sku: 'a', qty: 1, price: 1 }] } })
    expect(res.status).toBe(202)
  })
})
