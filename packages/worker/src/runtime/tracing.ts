/**
 * OpenTelemetry for step code (docs/tracing.md): the worker registers a global context manager (AsyncLocalStorage)
 * and tracer provider with `@opentelemetry/api`, so step code that calls `trace.getTracer(..).startActiveSpan(..)`
 * creates spans that are children of the invocation's attempt span (the invoke frame's `traceparent`).
 *
 * Spans are not exported from here: finished spans are collected per invocation and sent to the runtime in
 * `spans` frames before the result; the runtime puts them in the invocation's trace and exports them with its
 * own (OTLP endpoint and credentials stay out of the tenant's process). Collection is bounded: at most
 * MAX_SPANS spans per invocation, MAX_ATTRIBUTES attributes per span, long strings cut; spans outside an
 * invocation record nothing.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import {
  type Attributes,
  type AttributeValue,
  type Context,
  type ContextManager,
  context,
  createContextKey,
  type Exception,
  INVALID_SPAN_CONTEXT,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type TimeInput,
  type Tracer,
  type TracerProvider,
  TraceFlags,
  trace,
} from '@opentelemetry/api'
import type { ChildSpan } from '../frame-types.js'

export const MAX_SPANS = 512
export const MAX_SPANS_PER_FRAME = 128
export const MAX_ATTRIBUTES = 32
const MAX_STRING = 1024
const MAX_NAME = 256

/** The spans of one invocation. */
export class SpanCollector {
  readonly spans: ChildSpan[] = []
  dropped = 0
  private open = true

  add(span: ChildSpan): void {
    if (this.open && this.spans.length < MAX_SPANS) this.spans.push(span)
    else this.dropped += 1
  }

  /** Closes the collector (spans ending later are dropped) and returns its spans as `spans` frames' batches. */
  close(): ChildSpan[][] {
    this.open = false
    const out: ChildSpan[][] = []
    for (let i = 0; i < this.spans.length; i += MAX_SPANS_PER_FRAME) out.push(this.spans.slice(i, i + MAX_SPANS_PER_FRAME))
    return out
  }
}

const COLLECTOR = createContextKey('cfp.invocation.spans')

class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>()
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.als.run(ctx, () => fn.apply(thisArg, args))
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target
    const fn = target as unknown as (...a: unknown[]) => unknown
    const run = (...a: unknown[]) => this.als.run(ctx, () => fn(...a))
    return run as unknown as T
  }
  enable(): this {
    return this
  }
  disable(): this {
    this.als.disable()
    return this
  }
}

function millis(t: TimeInput | undefined): number {
  if (t === undefined) return performance.timeOrigin + performance.now()
  if (typeof t === 'number') return t < 1e12 ? performance.timeOrigin + t : t // a performance.now() value or epoch ms
  if (t instanceof Date) return t.getTime()
  return t[0] * 1000 + t[1] / 1e6
}

function cut(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s
}

const KINDS: Record<number, ChildSpan['kind']> = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
}

class ChildSpanImpl implements Span {
  private readonly attrs: Record<string, string | number | boolean> = {}
  private nattrs = 0
  private status: SpanStatus = { code: SpanStatusCode.UNSET }
  private ended = false
  private readonly start: number

  constructor(
    private readonly ctx: SpanContext,
    private readonly parentSpanId: string | undefined,
    private name: string,
    private readonly kind: SpanKind,
    private readonly collector: SpanCollector,
    start: TimeInput | undefined,
    attributes: Attributes | undefined,
  ) {
    this.start = millis(start)
    if (attributes) this.setAttributes(attributes)
  }
  spanContext(): SpanContext {
    return this.ctx
  }
  setAttribute(key: string, value: AttributeValue): this {
    if (this.ended || value === undefined || value === null) return this
    const v = Array.isArray(value) ? cut(JSON.stringify(value), MAX_STRING) : typeof value === 'string' ? cut(value, MAX_STRING) : value
    if (!(key in this.attrs)) {
      if (this.nattrs >= MAX_ATTRIBUTES) return this
      this.nattrs += 1
    }
    this.attrs[cut(key, 128)] = v as string | number | boolean
    return this
  }
  setAttributes(attributes: Attributes): this {
    for (const [k, v] of Object.entries(attributes)) if (v !== undefined) this.setAttribute(k, v)
    return this
  }
  addEvent(): this {
    return this
  }
  addLink(_link: Link): this {
    return this
  }
  addLinks(_links: Link[]): this {
    return this
  }
  setStatus(status: SpanStatus): this {
    if (!this.ended) this.status = status
    return this
  }
  updateName(name: string): this {
    if (!this.ended) this.name = name
    return this
  }
  end(endTime?: TimeInput): void {
    if (this.ended) return
    this.ended = true
    const span: ChildSpan = {
      spanId: this.ctx.spanId,
      name: cut(this.name, MAX_NAME),
      kind: KINDS[this.kind] ?? 'internal',
      startMs: this.start,
      endMs: Math.max(this.start, millis(endTime)),
      attributes: this.attrs,
      status: this.status.code === SpanStatusCode.ERROR ? 'error' : this.status.code === SpanStatusCode.OK ? 'ok' : 'unset',
    }
    if (this.parentSpanId) span.parentSpanId = this.parentSpanId
    if (this.status.message) span.statusMessage = cut(this.status.message, MAX_STRING)
    this.collector.add(span)
  }
  isRecording(): boolean {
    return !this.ended
  }
  recordException(exception: Exception): void {
    const message = typeof exception === 'string' ? exception : (exception.message ?? String(exception))
    this.setAttribute('exception.message', message)
  }
}

class CfpTracer implements Tracer {
  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const collector = ctx.getValue(COLLECTOR) as SpanCollector | undefined
    const parent = trace.getSpanContext(ctx)
    // Outside an invocation (module load, timers that outlive it) a span records nothing.
    if (!collector || !parent || !trace.isSpanContextValid(parent)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT)
    const spanContext: SpanContext = { traceId: parent.traceId, spanId: randomBytes(8).toString('hex'), traceFlags: parent.traceFlags }
    // A trace that is not sampled is not exported: its spans only propagate context.
    if (!(parent.traceFlags & TraceFlags.SAMPLED)) return trace.wrapSpanContext(spanContext)
    // A span asking for a new root stays in the invocation's trace, under the attempt (the runtime enforces it too).
    const parentSpanId = options.root ? undefined : parent.spanId
    return new ChildSpanImpl(spanContext, parentSpanId, name, options.kind ?? SpanKind.INTERNAL, collector, options.startTime, options.attributes)
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest.pop() as F
    const [options, ctx] = rest as [SpanOptions | undefined, Context | undefined]
    const parentCtx = ctx ?? context.active()
    const span = this.startSpan(name, options, parentCtx)
    return context.with(trace.setSpan(parentCtx, span), () => fn(span)) as ReturnType<F>
  }
}

class CfpTracerProvider implements TracerProvider {
  private readonly tracer = new CfpTracer()
  getTracer(): Tracer {
    return this.tracer
  }
}

let installed: boolean | undefined

/** Registers the worker's context manager and tracer provider with @opentelemetry/api (once per process). */
export function installTracing(): boolean {
  if (installed === undefined) {
    installed = context.setGlobalContextManager(new AlsContextManager()) && trace.setGlobalTracerProvider(new CfpTracerProvider())
  }
  return installed
}

/** Parses a version-00 `traceparent` (the runtime's); undefined when it is not one. */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const m = value === undefined ? null : /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value)
  if (!m?.[1] || !m[2] || !m[3]) return undefined
  const ctx: SpanContext = { traceId: m[1], spanId: m[2], traceFlags: Number.parseInt(m[3], 16) & TraceFlags.SAMPLED, isRemote: true }
  return trace.isSpanContextValid(ctx) ? ctx : undefined
}

/** Runs `fn` in the OpenTelemetry context of an invocation: its attempt span is the active (remote) parent. */
export function withInvocationContext<T>(traceparent: string | undefined, collector: SpanCollector, fn: () => Promise<T>): Promise<T> {
  const parent = parseTraceparent(traceparent)
  if (!parent || !installTracing()) return fn()
  const ctx = trace.setSpanContext(ROOT_CONTEXT, parent).setValue(COLLECTOR, collector)
  return context.with(ctx, fn)
}
