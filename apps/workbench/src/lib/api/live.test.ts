import { describe, expect, it } from 'vitest'
import { type EventSourceLike, LiveHub } from './live'

class FakeSource implements EventSourceLike {
  readyState = 0
  onopen: ((ev: Event) => unknown) | null = null
  onerror: ((ev: Event) => unknown) | null = null
  closed = false
  readonly listeners = new Map<string, (ev: MessageEvent) => void>()
  addEventListener(type: string, listener: (ev: MessageEvent) => void) {
    this.listeners.set(type, listener)
  }
  close() {
    this.closed = true
    this.readyState = 2
  }
  emit(type: string, data: string) {
    this.listeners.get(type)?.({ data } as MessageEvent)
  }
}

function setup() {
  const sources: FakeSource[] = []
  const timers: Array<() => void> = []
  const hub = new LiveHub(
    () => {
      const s = new FakeSource()
      sources.push(s)
      return s as unknown as EventSourceLike
    },
    { minDelayMs: 10, setTimeout: (fn) => timers.push(fn), clearTimeout: () => undefined },
  )
  return { hub, sources, timers }
}

describe('LiveHub', () => {
  it('delivers parsed events to subscribers and ignores malformed ones', () => {
    const { hub, sources } = setup()
    const got: string[] = []
    const off = hub.on('log', (line) => got.push(line.msg))
    hub.start()
    sources[0]!.emit('log', JSON.stringify({ tsMs: 1, level: 'info', msg: 'hi' }))
    sources[0]!.emit('log', '{not json')
    off()
    sources[0]!.emit('log', JSON.stringify({ tsMs: 2, level: 'info', msg: 'after off' }))
    expect(got).toEqual(['hi'])
  })

  it('reports status and reconnects after the stream is refused', () => {
    const { hub, sources, timers } = setup()
    const statuses: string[] = []
    hub.onStatus((s) => statuses.push(s))
    hub.start()
    sources[0]!.onopen?.(new Event('open'))
    sources[0]!.readyState = 2 // refused (e.g. 404): EventSource gives up
    sources[0]!.onerror?.(new Event('error'))
    expect(statuses).toEqual(['open', 'down'])
    expect(timers).toHaveLength(1)
    timers[0]!()
    expect(sources).toHaveLength(2)
    sources[1]!.onopen?.(new Event('open'))
    expect(hub.status).toBe('open')
  })

  it('stops cleanly', () => {
    const { hub, sources, timers } = setup()
    hub.start()
    hub.stop()
    expect(sources[0]!.closed).toBe(true)
    expect(timers).toHaveLength(0)
  })

  it('waits for an asynchronous connect (a fresh token), and closes it when stopped meanwhile', async () => {
    let release: (s: EventSourceLike) => void = () => undefined
    const first = new FakeSource()
    const hub = new LiveHub(() => new Promise<EventSourceLike>((r) => (release = r)), { minDelayMs: 10, setTimeout: () => 0, clearTimeout: () => undefined })
    hub.start()
    expect(hub.status).toBe('connecting')
    release(first as unknown as EventSourceLike)
    await Promise.resolve()
    first.onopen?.call(undefined as never, new Event('open'))
    expect(hub.status).toBe('open')
    hub.stop()
    expect(first.closed).toBe(true)

    const late = new FakeSource()
    hub.start()
    hub.stop()
    release(late as unknown as EventSourceLike)
    await Promise.resolve()
    expect(late.closed).toBe(true)
  })
})
