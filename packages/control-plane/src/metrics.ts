/**
 * Prometheus metrics of the control plane (docs/metrics.md): request RED metrics by route pattern (never the raw
 * path: ids in paths would make a series per tenant or user) and prom-client's process metrics.
 *
 * Who may scrape: with `--metrics-token`, `/metrics` on the main port answers a request bearing it (compared in
 * constant time) and 401 otherwise; with `--metrics-port`, a separate listener serves `/metrics` (bind it where only
 * Prometheus reaches; the token, when set, is required there too) and the main port has no `/metrics`. With
 * neither, metrics are recorded but served nowhere: never anonymously.
 */
import { createServer, type Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'
import { bearer } from './auth/authenticate.js'
import { safeEqual } from './auth/secrets.js'

export interface Metrics {
  registry: Registry
  requests: Counter<'method' | 'route' | 'status'>
  duration: Histogram<'method' | 'route'>
}

export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const requests = new Counter({
    name: 'cfp_cp_http_requests_total',
    help: 'Control-plane HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'cfp_cp_http_request_duration_seconds',
    help: 'Control-plane HTTP request duration by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  return { registry, requests, duration }
}

/** Methods counted by name; anything else is `other` (a closed label set whatever clients send). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/**
 * Records every answered request. The route is Fastify's pattern (`/v1/tenants/:tenantId`); a request no route
 * matched is `unmatched`.
 */
export function installMetrics(app: FastifyInstance, metrics: Metrics, token: string | undefined, servedHere: boolean): void {
  app.addHook('onResponse', async (request, reply) => {
    const method = METHODS.has(request.method) ? request.method : 'other'
    const route = request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched')
    metrics.requests.inc({ method, route, status: String(reply.statusCode) })
    metrics.duration.observe({ method, route }, reply.elapsedTime / 1000)
  })
  if (!servedHere) return
  app.get('/metrics', { config: { auth: 'public' }, schema: { hide: true } }, async (request, reply) => {
    if (!token || !safeEqual(bearer(request.headers.authorization) ?? '', token)) {
      return reply.code(401).send({ error: { code: 'unauthenticated', message: 'the metrics endpoint needs `Authorization: Bearer <metrics token>`' } })
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}

/** The separate metrics listener (`--metrics-port`): `/metrics` and `/health` only. */
export async function listenMetrics(metrics: Metrics, host: string, port: number, token: string | undefined): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'GET' && path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')
      return
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"this listener serves /metrics only"}}')
      return
    }
    if (token && !safeEqual(bearer(req.headers.authorization) ?? '', token)) {
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"error":{"code":"unauthenticated","message":"the metrics endpoint needs a bearer token"}}')
      return
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    )
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server
}
