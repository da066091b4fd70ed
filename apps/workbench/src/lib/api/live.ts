/**
 * One shared connection to `GET /live` (Server-Sent Events) for the whole workbench. Pages subscribe to
 * `log`, `span` and `steps` events; the hub reconnects with backoff when the stream closes, and reports its
 * status so pages can fall back to polling while it is down.
 *
 * @example
 * const hub = new LiveHub(async () => new EventSource(await api.liveUrl()))
 * const off = hub.on('log', (line) => console.log(line.msg))
 */
import type { LogLine, SpanEvent } from './types'

export type LiveStatus = 'connecting' | 'open' | 'down'

export interface LiveEvents {
  log: LogLine
  span: SpanEvent
  steps: unknown
  /** The runtime dropped events for this client (it was too slow): refetch what matters. */
  lagged: { missed?: number }
}

export type LiveEventName = keyof LiveEvents

/** The part of EventSource the hub uses (a fake in tests). */
export interface EventSourceLike {
  readonly readyState: number
  onopen: ((this: never, ev: Event) => unknown) | null
  onerror: ((this: never, ev: Event) => unknown) | null
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void
  close(): void
}

const CLOSED = 2

export interface LiveHubOptions {
  /** First reconnect delay and cap (ms). */
  minDelayMs?: number
  maxDelayMs?: number
  setTimeout?: (fn: () => void, ms: number) => unknown
  clearTimeout?: (handle: unknown) => void
}

export class LiveHub {
  private source: EventSourceLike | undefined
  private readonly listeners = new Map<string, Set<(data: never) => void>>()
  private readonly statusListeners = new Set<(status: LiveStatus) => void>()
  private statusValue: LiveStatus = 'connecting'
  private delay: number
  private timer: unknown
  private stopped = true
  /** Bumped by stop(): a connection still being prepared (awaiting a token) is then closed, not attached. */
  private generation = 0

  constructor(
    /** Opens the stream; may first await something (a fresh access token for the URL). */
    private readonly connect: () => EventSourceLike | Promise<EventSourceLike>,
    private readonly options: LiveHubOptions = {},
  ) {
    this.delay = options.minDelayMs ?? 2000
  }

  get status(): LiveStatus {
    return this.statusValue
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.open()
  }

  stop(): void {
    this.stopped = true
    this.generation++
    this.source?.close()
    this.source = undefined
    if (this.timer !== undefined) (this.options.clearTimeout ?? clearTimeout)(this.timer as never)
    this.timer = undefined
  }

  on<K extends LiveEventName>(name: K, listener: (data: LiveEvents[K]) => void): () => void {
    let set = this.listeners.get(name)
    if (!set) {
      set = new Set()
      this.listeners.set(name, set)
    }
    set.add(listener as (data: never) => void)
    return () => set.delete(listener as (data: never) => void)
  }

  onStatus(listener: (status: LiveStatus) => void): () => void {
    this.statusListeners.add(listener)
    return () => this.statusListeners.delete(listener)
  }

  /** Delivers an event as if it came from the stream (used by tests and by the page itself). */
  dispatch(name: string, raw: string): void {
    let data: unknown
    try {
      data = JSON.parse(raw)
    } catch {
      return // a malformed event is ignored, never thrown into a page
    }
    for (const l of [...(this.listeners.get(name) ?? [])]) l(data as never)
  }

  private setStatus(status: LiveStatus): void {
    if (status === this.statusValue) return
    this.statusValue = status
    for (const l of [...this.statusListeners]) l(status)
  }

  private open(): void {
    this.setStatus('connecting')
    let pending: EventSourceLike | Promise<EventSourceLike>
    try {
      pending = this.connect()
    } catch {
      this.retry()
      return
    }
    if (!(pending instanceof Promise)) {
      this.attach(pending)
      return
    }
    const generation = this.generation
    pending.then(
      (source) => {
        if (this.stopped || generation !== this.generation) source.close()
        else this.attach(source)
      },
      () => {
        if (!this.stopped && generation === this.generation) this.retry()
      },
    )
  }

  private attach(source: EventSourceLike): void {
    this.source = source
    source.onopen = () => {
      this.delay = this.options.minDelayMs ?? 2000
      this.setStatus('open')
    }
    source.onerror = () => {
      if (this.source !== source) return
      // EventSource retries by itself after a dropped connection; a refused one (404, wrong type) is CLOSED
      if (source.readyState === CLOSED) {
        source.close()
        this.source = undefined
        this.retry()
      } else {
        this.setStatus('connecting')
      }
    }
    for (const name of ['log', 'span', 'steps', 'lagged']) {
      source.addEventListener(name, (ev: MessageEvent) => this.dispatch(name, String(ev.data)))
    }
  }

  private retry(): void {
    this.setStatus('down')
    if (this.stopped) return
    const delay = this.delay
    this.delay = Math.min(this.delay * 2, this.options.maxDelayMs ?? 30_000)
    this.timer = (this.options.setTimeout ?? setTimeout)(() => {
      this.timer = undefined
      if (!this.stopped) this.open()
    }, delay)
  }
}
