/**
 * The WebSocket to the runtime, kept up: connects, reconnects with capped exponential backoff (with jitter) when
 * the runtime is unreachable or the connection drops, and checks liveness with WebSocket pings every heartbeat.
 */
import WebSocket from 'ws'
import { MAX_FRAME_BYTES } from './invoke.js'

export interface ConnectionEvents {
  /** The socket is open: send `hello`. */
  onOpen: () => void
  onMessage: (text: string) => void
  /** The socket closed (a reconnect follows unless `stop()` was called). */
  onClose: (code: number, reason: string) => void
  /** Readable status lines (unreachable runtime, retries). */
  print: (line: string) => void
}

export interface ConnectionOptions {
  url: string
  initialDelayMs?: number
  maxDelayMs?: number
}

export class Connection {
  private ws: WebSocket | undefined
  private attempt = 0
  private retryTimer: NodeJS.Timeout | undefined
  private heartbeat: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {}

  start(): void {
    this.stopped = false
    this.connect()
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN
  }

  /** Sends a frame (an object or its JSON text); false when not connected. */
  send(frame: object | string): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
    return true
  }

  /** The session is established (welcome received): the next failure starts the backoff from the beginning. */
  markHealthy(): void {
    this.attempt = 0
  }

  /** Checks liveness with WebSocket pings; a connection silent for two intervals is dropped (and reconnected). */
  startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat()
    const ws = this.ws
    if (!ws || intervalMs <= 0) return
    let alive = true
    ws.on('pong', () => void (alive = true))
    this.heartbeat = setInterval(() => {
      if (!alive) {
        this.events.print(`cfp-worker: no answer from the runtime for ${(2 * intervalMs) / 1000}s; reconnecting`)
        ws.terminate()
        return
      }
      alive = false
      ws.ping()
    }, intervalMs)
    this.heartbeat.unref()
  }

  /** Closes for good (no reconnect). Resolves once the socket is closed. */
  async stop(code = 1000, reason = 'worker shutting down'): Promise<void> {
    this.stopped = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.stopHeartbeat()
    const ws = this.ws
    if (!ws || ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      // A peer that does not answer the close handshake promptly is cut off.
      const t = setTimeout(() => {
        ws.terminate()
        resolve()
      }, 1000)
      ws.once('close', () => {
        clearTimeout(t)
        resolve()
      })
      ws.close(code, reason)
    })
  }

  private connect(): void {
    const ws = new WebSocket(this.opts.url, { handshakeTimeout: 5000, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false })
    this.ws = ws
    let lastError: Error | undefined
    let opened = false
    ws.on('open', () => {
      opened = true
      this.events.onOpen()
    })
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.events.onMessage(data.toString())
    })
    ws.on('error', (err) => void (lastError = err))
    ws.on('close', (code, reasonBuf) => {
      this.stopHeartbeat()
      if (this.ws !== ws) return
      this.ws = undefined
      const reason = reasonBuf.toString()
      this.events.onClose(code, reason)
      if (this.stopped) return
      const delay = this.nextDelay()
      const why = lastError
        ? lastError.message || (lastError as NodeJS.ErrnoException).code || 'connection failed'
        : `closed (${code}${reason ? ` ${reason}` : ''})`
      const what = opened ? 'lost the connection to the runtime at' : 'cannot reach the runtime at'
      this.events.print(`cfp-worker: ${what} ${this.opts.url}: ${why}; retrying in ${(delay / 1000).toFixed(1)}s`)
      this.retryTimer = setTimeout(() => this.connect(), delay)
    })
  }

  private nextDelay(): number {
    const base = this.opts.initialDelayMs ?? 250
    const cap = this.opts.maxDelayMs ?? 10_000
    const exp = Math.min(cap, base * 2 ** this.attempt)
    this.attempt += 1
    return Math.min(cap, Math.round(exp * (0.8 + Math.random() * 0.4)))
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.heartbeat = undefined
  }
}
