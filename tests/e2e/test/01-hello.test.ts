/**
 * examples/hello under `cfp dev` (types refreshed on start, as a user runs it): POST /hello answers 202, the
 * event chain HelloApi → ProcessGreeting → LogGreeting runs under one trace id (visible through the runtime's
 * log API), and the visit count kept in state increments across calls.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { EXAMPLES } from '../src/env.js'
import { waitFor } from '../src/util.js'

const STEPS = ['HelloApi', 'ProcessGreeting', 'LogGreeting']

describe('examples/hello under cfp dev', () => {
  const dev = useDevProject({ source: join(EXAMPLES, 'hello'), args: [] })
  const name = `Ada-${randomBytes(3).toString('hex')}`

  async function greet(): Promise<string> {
    const res = await dev.server.fetch('/hello', { method: 'POST', json: { name } })
    expect(res.status).toBe(202)
    expect(res.json.message).toBe(`Hello, ${name}! Your greeting is on its way.`)
    expect(res.json.traceId).toMatch(/^[0-9a-f-]{36}$/)
    expect(res.headers.get('x-trace-id')).toBe(res.json.traceId)
    return res.json.traceId as string
  }

  /** The log lines of one trace once all three steps logged. */
  function traceLogs(traceId: string) {
    return waitFor(`logs of ${STEPS.join(', ')} under trace ${traceId}`, async () => {
      const logs = await dev.server.logs({ traceId })
      return STEPS.every((s) => logs.some((l) => l.step === s)) && logs
    })
  }

  it('registers the example steps', async () => {
    const res = await dev.server.fetch('/__cfp/api/steps')
    expect(res.status).toBe(200)
    const names = (res.json.steps as Array<{ name: string }>).map((s) => s.name).sort()
    expect(names).toEqual(['GreetingReport', 'HelloApi', 'LogGreeting', 'ManualReview', 'ProcessGreeting'])
  })

  it('POST /hello → 202, and the three steps log under the same trace id', async () => {
    const traceId = await greet()
    const logs = await traceLogs(traceId)
    for (const line of logs) expect(line.traceId).toBe(traceId)
    expect(logs.find((l) => l.step === 'HelloApi')).toMatchObject({ msg: 'Greeting received', data: { name } })
    expect(logs.find((l) => l.step === 'ProcessGreeting')).toMatchObject({ msg: 'Greeting processed', data: { name, visits: 1 } })
    expect(logs.find((l) => l.step === 'LogGreeting')).toMatchObject({ msg: `Hello, ${name}!`, data: { name, visits: 1 } })
    // in order: the API step, then the subscriber, then its subscriber
    const first = (step: string) => logs.findIndex((l) => l.step === step)
    expect(first('HelloApi')).toBeLessThan(first('ProcessGreeting'))
    expect(first('ProcessGreeting')).toBeLessThan(first('LogGreeting'))
  })

  it('keeps the visit count in state across calls', async () => {
    const traceId = await greet()
    const logs = await traceLogs(traceId)
    expect(logs.find((l) => l.step === 'LogGreeting')).toMatchObject({ msg: `Welcome back, ${name} (visit 2)`, data: { visits: 2 } })
    expect(await dev.db.state('greetings', name)).toBe(2)
  })

  it('answers the handler’s 400 to an invalid body, and emits nothing', async () => {
    const res = await dev.server.fetch('/hello', { method: 'POST', json: { nom: 'x' } })
    expect(res.status).toBe(400)
    expect(res.json).toEqual({ error: 'Send a JSON body like {"name": "Ada"}' })
    const traceId = res.headers.get('x-trace-id') as string
    expect(traceId).toBeTruthy()
    // give a wrongly published event time to run, then check that nothing ran under that trace
    await new Promise((r) => setTimeout(r, 500))
    expect((await dev.server.logs({ traceId })).filter((l) => l.step !== 'HelloApi')).toEqual([])
  })
})
