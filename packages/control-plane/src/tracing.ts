/**
 * OpenTelemetry traces of the control plane (docs/tracing.md, "Control plane"): one SERVER span per HTTP request,
 * a child of the caller's W3C `traceparent` when it sends a valid one, exported over OTLP/HTTP with protobuf
 * bodies (`--otlp-endpoint`, `--otlp-headers`, `--trace-sample-ratio`: the runtime's options, `CFP_CONTROL_*`).
 *
 * Export never slows a request: spans queue in a bounded batch processor (2,048 spans; beyond that the SDK drops
 * them) and leave in batches of up to 512 from a timer, each POST bounded by 10 s. The span carries the method,
 * the route pattern (never the raw path: ids in paths are data), the status and the tenant/project ids of the
 * route; no header, query or body. Without `--otlp-endpoint` nothing is created.
 */
import { type Context, context, defaultTextMapGetter, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace'
import type { FastifyInstance, FastifyRequest } from 'fastify'

export interface TracingOptions {
  /** Base URL (`/v1/traces` is appended) or the full `…/v1/traces` URL. */
  endpoint: string
  /** Extra request headers for the collector (e.g. an API key); never logged. */
  headers?: Record<string, string>
  /** Fraction of new traces sampled (a caller's sampled flag is followed). Default 1. */
  sampleRatio?: number
  serviceName?: string
}

export interface Tracing {
  /** Sends what is queued (shutdown calls it). */
  flush(): Promise<void>
  shutdown(): Promise<void>
}

/** `http://collector:4318` → `http://collector:4318/v1/traces`; a URL already ending in `/v1/traces` is kept. */
export function tracesUrl(endpoint: string): string {
  const u = new URL(endpoint)
  if (!u.pathname.endsWith('/v1/traces')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/traces`
  return u.toString()
}

const propagator = new W3CTraceContextPropagator()
const spans = new WeakMap<FastifyRequest, Span>()

/** Methods named as sent; anything else is `_OTHER` (the semantic conventions' rule). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/** Starts exporting and adds the request hooks. */
export function installTracing(app: FastifyInstance, o: TracingOptions): Tracing {
  const exporter = new OTLPTraceExporter({ url: tracesUrl(o.endpoint), headers: o.headers ?? {}, timeoutMillis: 10_000 })
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': o.serviceName ?? 'cfp-control-plane' }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(o.sampleRatio ?? 1) }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter, maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 1000, exportTimeoutMillis: 10_000 }),
    ],
  })
  const tracer = provider.getTracer('cfp-control-plane')
  app.addHook('onRequest', async (request, reply) => {
    const parent: Context = propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter)
    const method = METHODS.has(request.method) ? request.method : '_OTHER'
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method } }, parent)
    spans.set(request, span)
    const sc = span.spanContext()
    if (trace.isSpanContextValid(sc)) {
      // The caller (and the log lines: logging.ts reads the request's traceparent) see this span's ids.
      const carrier: Record<string, string> = {}
      propagator.inject(trace.setSpan(context.active(), span), carrier, { set: (c, k, v) => (c[k] = v) })
      if (carrier.traceparent) {
        reply.header('traceparent', carrier.traceparent)
        request.headers.traceparent = carrier.traceparent
      }
    }
  })
  app.addHook('onResponse', async (request, reply) => {
    const span = spans.get(request)
    if (!span) return
    spans.delete(request)
    const route = request.is404 ? undefined : request.routeOptions.url
    if (route) {
      span.updateName(`${METHODS.has(request.method) ? request.method : '_OTHER'} ${route}`)
      span.setAttribute('http.route', route)
    }
    const params = (request.params ?? {}) as Record<string, unknown>
    if (typeof params.tenantId === 'string') span.setAttribute('cfp.tenant', params.tenantId)
    if (typeof params.projectId === 'string') span.setAttribute('cfp.project', params.projectId)
    span.setAttribute('http.response.status_code', reply.statusCode)
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
    span.end()
  })
  // Flushing at shutdown waits at most 3 s and never fails the shutdown (an unreachable collector loses the rest).
  const bounded = (p: Promise<void>) => Promise.race([p.catch(() => {}), new Promise<void>((r) => setTimeout(r, 3000).unref())])
  return {
    flush: () => bounded(provider.forceFlush()),
    shutdown: () => bounded(provider.shutdown()),
  }
}
