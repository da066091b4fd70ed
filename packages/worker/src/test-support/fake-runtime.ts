/**
 * A tiny stand-in for the Rust runtime's worker endpoint, for tests: answers hello with welcome, register with
 * registered (all accepted), serves state calls and stored request bodies (`payload.get`) from memory, and records
 * every frame the worker sends.
 */
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type WebSocket, WebSocketServer } from 'ws'
import type { InvokeFrame, ResultFrame, WorkerFrame } from '../frame-types.js'
import { validateWorkerFrame } from '../frames.js'

export class FakeRuntime {
  readonly frames: WorkerFrame[] = []
  readonly state = new Map<string, Map<string, unknown>>()
  /** Request bodies `payload.get` serves, by key. */
  readonly bodies = new Map<string, Buffer>()
  private readonly server: WebSocketServer
  private socket: WebSocket | undefined
  private waiters: { pred: (f: WorkerFrame) => boolean; resolve: (f: WorkerFrame) => void; from: number }[] = []
  connections = 0
  token = 'test-token'

  private constructor(server: WebSocketServer) {
    this.server = server
    server.on('connection', (ws) => {
      this.connections += 1
      this.socket = ws
      ws.on('message', (data) => this.onFrame(ws, JSON.parse(data.toString()) as WorkerFrame))
    })
  }

  static async start(port = 0): Promise<FakeRuntime> {
    const server = new WebSocketServer({ port, host: '127.0.0.1', path: '/__cfp/worker' })
    await new Promise<void>((r) => server.once('listening', () => r()))
    return new FakeRuntime(server)
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/__cfp/worker`
  }

  private onFrame(ws: WebSocket, frame: WorkerFrame): void {
    validateWorkerFrame(frame) // every frame the worker sends must match the protocol
    this.frames.push(frame)
    if (frame.type === 'hello') {
      if (frame.token !== this.token) {
        ws.send(JSON.stringify({ type: 'error', code: 'unauthenticated', message: 'bad token' }))
        ws.close(4401, 'unauthenticated')
        return
      }
      this.send({ type: 'welcome', protocol: 2, workerId: 'w1', tenant: 't', project: 'p', heartbeatMs: 0, payloadThreshold: 262144 })
    } else if (frame.type === 'register') {
      this.send({ type: 'registered', steps: frame.steps.map((s) => s.name), errors: [] })
    } else if (frame.type === 'call' && frame.method === 'payload.get') {
      // Stored request bodies (`rawBodyRef`): chunks of at most 256 KiB, as the runtime answers.
      const { key, offset } = frame.params as { key: string; offset: number }
      const body = this.bodies.get(key)
      if (!body) this.send({ type: 'reply', id: frame.id, ok: false, error: { code: 'not_found', message: `no body ${key}` } })
      else
        this.send({
          type: 'reply',
          id: frame.id,
          ok: true,
          result: { data: body.subarray(offset, offset + 262144).toString('base64'), offset, size: body.length },
        })
    } else if (frame.type === 'call') {
      const { group, key, value } = frame.params as { group: string; key: string; value: unknown }
      const g = this.state.get(group) ?? new Map<string, unknown>()
      this.state.set(group, g)
      const result = frame.method === 'state.set' ? (g.set(key, value), value) : frame.method === 'state.get' ? (g.get(key) ?? null) : [...g.values()]
      this.send({ type: 'reply', id: frame.id, ok: true, result })
    }
    const i = this.frames.length - 1
    this.waiters = this.waiters.filter((w) => (i >= w.from && w.pred(frame) ? (w.resolve(frame), false) : true))
  }

  send(frame: object): void {
    this.socket?.send(JSON.stringify(frame))
  }

  /** The first frame (at index >= from) matching `pred`, waiting for it if needed. */
  waitFor<T extends WorkerFrame>(pred: (f: WorkerFrame) => boolean, from = 0, timeoutMs = 5000): Promise<T> {
    const found = this.frames.slice(from).find(pred)
    if (found) return Promise.resolve(found as T)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs)
      this.waiters.push({ pred, from, resolve: (f) => (clearTimeout(t), resolve(f as T)) })
    })
  }

  private nextId = 0
  /** Sends an invoke and resolves with its result frame. */
  invoke(frame: Omit<InvokeFrame, 'type' | 'id' | 'attempt' | 'traceId' | 'idempotencyKey' | 'timeoutMs'> & Partial<InvokeFrame>): Promise<ResultFrame> {
    const id = frame.id ?? `inv_${++this.nextId}`
    const full = { type: 'invoke', attempt: 1, traceId: `tr_${id}`, idempotencyKey: `key_${id}`, timeoutMs: 30000, ...frame, id }
    const from = this.frames.length
    this.send(full)
    return this.waitFor<ResultFrame>((f) => f.type === 'result' && f.id === id, from)
  }

  /** Drops the worker's connection (it should reconnect). */
  dropConnection(): void {
    this.socket?.terminate()
  }

  async close(): Promise<void> {
    for (const c of this.server.clients) c.terminate()
    await new Promise<void>((r) => this.server.close(() => r()))
  }
}

/** Copies a fixture project into a temp dir whose node_modules points at the repo's. */
export function tempProject(fixture: string): { dir: string; cleanup: () => void } {
  const here = dirname(fileURLToPath(import.meta.url))
  const dir = mkdtempSync(join(tmpdir(), 'cfp-worker-test-'))
  cpSync(join(here, '../../fixtures', fixture), dir, { recursive: true })
  symlinkSync(join(here, '../../../../node_modules'), join(dir, 'node_modules'), 'dir')
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
