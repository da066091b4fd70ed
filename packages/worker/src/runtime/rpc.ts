/**
 * `call`/`reply` RPC over the worker connection (state today, streams later). Each call gets an integer id;
 * the promise settles with the matching `reply`, or fails when the connection drops or no reply comes in time.
 */
import type { CallFrame, ReplyFrame } from '../frame-types.js'

export class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'RpcError'
  }
}

interface Pending {
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
  method: string
}

export class RpcClient {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()

  constructor(
    private readonly send: (frame: CallFrame) => boolean,
    private readonly timeoutMs = 60_000,
  ) {}

  call(method: string, params: Record<string, unknown>, meta: { traceId?: string; invocationId?: string } = {}): Promise<unknown> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new RpcError('timeout', `${method}: the runtime did not answer within ${this.timeoutMs / 1000} s`))
      }, this.timeoutMs)
      this.pending.set(id, { resolve, reject, timer, method })
      const frame: CallFrame = { type: 'call', id, method, params }
      if (meta.traceId !== undefined) frame.traceId = meta.traceId
      if (meta.invocationId !== undefined) frame.invocationId = meta.invocationId
      if (!this.send(frame)) this.settle(id, new RpcError('unavailable', `${method}: not connected to the runtime`))
    })
  }

  handleReply(frame: ReplyFrame): void {
    const p = this.pending.get(frame.id)
    if (!p) return
    if (frame.ok) this.settle(frame.id, undefined, frame.result === undefined ? null : frame.result)
    else this.settle(frame.id, new RpcError(frame.error?.code ?? 'internal', `${p.method}: ${frame.error?.message ?? 'failed'}`))
  }

  /** Fails every call in flight (the connection is gone). */
  failAll(reason: string): void {
    for (const id of [...this.pending.keys()]) this.settle(id, new RpcError('unavailable', `${this.pending.get(id)?.method}: ${reason}`))
  }

  private settle(id: number, err?: Error, value?: unknown): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    clearTimeout(p.timer)
    if (err) p.reject(err)
    else p.resolve(value)
  }
}
