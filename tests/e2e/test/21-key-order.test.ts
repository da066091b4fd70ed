/**
 * Key order end to end with a real Node worker (docs/semantics.md "Key order"): the objects a TypeScript handler
 * gives keep their key order in the HTTP response, the next step's input, state (read back by a step and over
 * `/__motia/state`) and stream items — except JavaScript's own rule, which Motia shares: integer-like keys of an
 * object come first, in numeric order.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { waitFor } from '../src/util.js'

const DOC = '{"z":1,"a":{"y":2,"b":3},"m":[{"k":1,"c":2}]}'

const ORDER_STEP = `
export const config = { type: 'api', name: 'Order', path: '/order', method: 'POST', emits: ['ordered'] }
export const handler = async (req: any, { emit, state, streams }: any) => {
  const doc = ${DOC}
  await emit({ topic: 'ordered', data: doc })
  await state.set('orders', 'given', doc)
  await streams.keyed.set('g', 'i1', doc)
  return { status: 200, body: { echo: req.body, stored: await state.get('orders', 'given'), item: await streams.keyed.get('g', 'i1') } }
}
`
const ORDERED_STEP = `
export const config = { type: 'event', name: 'Ordered', subscribes: ['ordered'], emits: [] }
export const handler = async (input: any, { state }: any) => {
  await state.set('orders', 'seen', input)
}
`
const STREAM = `
import { z } from 'zod'
export const config = { name: 'keyed', schema: z.object({}).passthrough(), baseConfig: { storageType: 'default' } }
`

describe('key order through a Node worker', () => {
  const dev = useDevProject({
    source: join(FIXTURES, 'minimal'),
    extraFiles: {
      'steps/order.step.ts': ORDER_STEP,
      'steps/ordered.step.ts': ORDERED_STEP,
      'steps/keyed.stream.ts': STREAM,
    },
  })

  it("keeps the handler's key order in the response, state, streams and the next step's input", async () => {
    const res = await dev.server.fetch('/order', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"zeta":1,"alpha":{"y":2,"b":3},"10":0}',
    })
    expect(res.status, res.text).toBe(200)
    // JSON.parse in the worker puts the integer-like key "10" first (JavaScript's rule, Motia's too).
    // The stored item is `{...data, id, _createdAt}`; the SDK's `get` adds Motia's `__motia` member after it.
    const item = `${DOC.slice(0, -1)},"id":"i1","_createdAt":${res.json.item._createdAt}}`
    const got = `${item.slice(0, -1)},"__motia":${JSON.stringify(res.json.item.__motia)}}`
    expect(res.text).toBe(`{"echo":{"10":0,"zeta":1,"alpha":{"y":2,"b":3}},"stored":${DOC},"item":${got}}`)

    const seen = await waitFor('the Ordered step stored its input', async () => {
      const state = await dev.server.fetch('/__motia/state?groupId=orders')
      return state.text.includes('"key":"seen"') && state.text
    })
    expect(seen).toContain(`"key":"seen","type":"object","value":${DOC}`)
    expect(seen).toContain(`"key":"given","type":"object","value":${DOC}`)
    const streams = await dev.server.fetch('/__cfp/api/streams/keyed/g')
    expect(streams.text).toContain(item)
  })
})
