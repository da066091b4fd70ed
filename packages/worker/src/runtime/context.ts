/**
 * The `ctx` a handler receives: `emit` (checked against the step's `emits`, buffered until the result),
 * `traceId`, `idempotencyKey`, `logger` (entries tagged with step, trace and invocation), `state` and `streams`
 * (RPC to the runtime; see streams.ts).
 */
import { type EmitMessage, type FlowContext, type InternalStateManager, Logger, type LogRecord, normalizeEmit } from '@cfp/sdk'
import type { InvokeFrame, LogEntry } from '../frame-types.js'
import type { LoadedStep } from '../loader/load.js'
import type { RpcClient } from './rpc.js'
import { createStreams } from './streams.js'

export interface ContextDeps {
  rpc: RpcClient
  log: (entry: LogEntry) => void
  /** Names of the project's loaded streams (what `Object.keys(ctx.streams)` lists). */
  streamNames?: () => string[]
}

export interface InvocationContext {
  ctx: FlowContext<unknown>
  /** Emits buffered so far, in call order. */
  emits: EmitMessage[]
  /** Called when the handler has returned: later `emit` calls throw. */
  close: () => void
}

export function createContext(step: LoadedStep, invoke: InvokeFrame, deps: ContextDeps): InvocationContext {
  const name = step.manifest.name
  const emits: EmitMessage[] = []
  let open = true
  const meta = { traceId: invoke.traceId, invocationId: invoke.id }

  const sink = (r: LogRecord): void => {
    const entry: LogEntry = { ts: r.ts, level: r.level, msg: r.msg, traceId: invoke.traceId, step: name, invocationId: invoke.id }
    if (r.data) entry.data = r.data
    deps.log(entry)
  }

  const call = (method: string, params: Record<string, unknown>) => deps.rpc.call(method, params, meta)
  const state: InternalStateManager = {
    get: <T>(group: string, key: string) => call('state.get', { group, key }) as Promise<T | null>,
    set: <T>(group: string, key: string, value: T) => call('state.set', { group, key, value }) as Promise<T>,
    delete: <T>(group: string, key: string) => call('state.delete', { group, key }) as Promise<T | null>,
    getGroup: <T>(group: string) => call('state.getGroup', { group }) as Promise<T[]>,
    clear: async (group: string) => {
      await call('state.clear', { group })
    },
  }

  const ctx: FlowContext<unknown> = {
    emit: async (event: unknown) => {
      if (!open) {
        throw new Error(`step '${name}': ctx.emit was called after the handler returned; await every emit inside the handler`)
      }
      emits.push(normalizeEmit(event, name, step.config.type === 'noop' ? [] : step.config.emits))
    },
    traceId: invoke.traceId,
    idempotencyKey: invoke.idempotencyKey,
    logger: new Logger({}, sink),
    state,
    streams: createStreams(call, deps.streamNames),
  }
  return { ctx, emits, close: () => void (open = false) }
}
