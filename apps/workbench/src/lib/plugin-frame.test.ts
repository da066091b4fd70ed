import { describe, expect, it } from 'vitest'
import { initMessage, MAX_FRAME_HEIGHT, nodeProps, readFrameMessage } from './plugin-frame'

const frame = {} as Window
const other = {} as Window

describe('readFrameMessage (what the workbench accepts from a plugin frame)', () => {
  it('accepts a resize from the frame, bounded', () => {
    expect(readFrameMessage({ source: frame, data: { type: 'cfp:resize', height: 120.4 } }, frame)).toEqual({ type: 'cfp:resize', height: 120 })
    expect(readFrameMessage({ source: frame, data: { type: 'cfp:resize', height: 1e9 } }, frame)?.height).toBe(MAX_FRAME_HEIGHT)
    expect(readFrameMessage({ source: frame, data: { type: 'cfp:resize', height: -5 } }, frame, 300)?.height).toBe(0)
    expect(readFrameMessage({ source: frame, data: { type: 'cfp:resize', height: 900 } }, frame, 300)?.height).toBe(300)
  })

  it('refuses messages from any other window, or when there is no frame', () => {
    expect(readFrameMessage({ source: other, data: { type: 'cfp:resize', height: 10 } }, frame)).toBeUndefined()
    expect(readFrameMessage({ source: null, data: { type: 'cfp:resize', height: 10 } }, frame)).toBeUndefined()
    expect(readFrameMessage({ source: frame, data: { type: 'cfp:resize', height: 10 } }, null)).toBeUndefined()
  })

  it('refuses every other shape', () => {
    const bad: unknown[] = [
      null,
      'cfp:resize',
      [],
      { type: 'cfp:resize' },
      { type: 'cfp:resize', height: '10' },
      { type: 'cfp:resize', height: Number.NaN },
      { type: 'cfp:resize', height: Number.POSITIVE_INFINITY },
      { type: 'cfp:resize', height: 10, token: 'x' },
      { type: 'cfp:navigate', height: 10 },
      { type: 'cfp:init', kind: 'tab', props: {} },
      Object.assign(Object.create({ inherited: true }), { type: 'cfp:resize', height: 10 }),
    ]
    for (const data of bad) expect(readFrameMessage({ source: frame, data }, frame), JSON.stringify(data)).toBeUndefined()
  })
})

describe('what the workbench sends a frame', () => {
  it("gives a node its step's description, never schemas or settings", () => {
    const step = { name: 'Greet', type: 'event', subscribes: ['greet'], input: { type: 'object' }, infrastructure: { queue: {} }, webhook: { header: 'x' } }
    expect(nodeProps(step)).toEqual({ data: { name: 'Greet', type: 'event', subscribes: ['greet'] } })
  })

  it('sends plain JSON only', () => {
    const m = initMessage('tab', { when: new Date(0), f: () => 1, n: 1 } as never)
    expect(m).toEqual({ type: 'cfp:init', kind: 'tab', props: { when: '1970-01-01T00:00:00.000Z', n: 1 } })
  })
})
