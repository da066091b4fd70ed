/**
 * Builds the Fastify application: JSON error shape, schemas on every route (unknown body properties are
 * refused, not stripped), the OpenAPI document, the authentication hook, and every route module.
 */
import formbody from '@fastify/formbody'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance } from 'fastify'
import { installDeniedRecorder } from './audit/record.js'
import { installAuth } from './auth/authenticate.js'
import { clientErrorHandler, errorBodySchema, frameworkErrors, installErrorHandling } from './errors.js'
import { installInputGuard } from './input-guard.js'
import { installLogContext, prettyStream } from './logging.js'
import { createMetrics, installMetrics, type Metrics } from './metrics.js'
import { installTracing } from './tracing.js'
import { auditRoutes } from './routes/audit.js'
import { auditRetentionRoutes } from './routes/audit-retention.js'
import { auditStatusRoutes } from './routes/audit-status.js'
import { authRoutes } from './routes/auth.js'
import { credentialRoutes } from './routes/credentials.js'
import { deletionRoutes } from './routes/deletion.js'
import { idpRoutes } from './routes/idps.js'
import { memberRoutes } from './routes/members.js'
import { projectRoutes } from './routes/projects.js'
import { publicRoutes } from './routes/public.js'
import { securityRoutes } from './routes/security.js'
import { serviceRoutes } from './routes/service.js'
import { settingsRoutes } from './routes/settings.js'
import { setupRoutes } from './routes/setup.js'
import { samlKeyRoutes } from './routes/saml-keys.js'
import { samlLogoutRoutes } from './routes/saml-slo.js'
import { ssoRoutes } from './routes/sso.js'
import { systemRoutes } from './routes/system.js'
import { tenantRoutes } from './routes/tenants.js'
import { uiRoutes } from './routes/ui.js'
import type { Services } from './services.js'

export interface AppOptions {
  /** a pino logger config (`stream`: where lines go, for tests) or `false`; default follows options.logLevel */
  logger?: boolean | { level: string; stream?: { write(line: string): void } }
  /** The metrics to record into (default: a new registry); the separate metrics listener serves the same. */
  metrics?: Metrics
}

/**
 * A URL as request logs show it: the path, and the query's parameter names with every value replaced by `…`.
 * Query values can be credentials (a login code, an OIDC `code` and `state`, a token given where headers cannot
 * be set) and never enter a log.
 */
export function loggedUrl(url: string): string {
  const at = url.indexOf('?')
  if (at < 0) return url
  const names = url
    .slice(at + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => `${pair.split('=')[0]}=…`)
  return `${url.slice(0, at)}?${names.join('&')}`
}

const requestSerializers = {
  req: (req: { method?: string; url?: string; hostname?: string; ip?: string }) => ({
    method: req.method,
    url: loggedUrl(req.url ?? ''),
    hostname: req.hostname,
    remoteAddress: req.ip,
  }),
}

export async function buildApp(s: Services, opts: AppOptions = {}): Promise<FastifyInstance> {
  const pretty = s.options.logFormat === 'pretty' ? { stream: prettyStream() } : {}
  const logger = opts.logger ?? (s.options.logLevel === 'silent' ? false : { level: s.options.logLevel, ...pretty })
  const app = Fastify({
    logger: logger === false || logger === true ? logger : { ...logger, serializers: requestSerializers },
    bodyLimit: s.options.bodyLimit,
    // X-Forwarded-For counts only from the configured proxies (request.ip: the rightmost untrusted address)
    trustProxy: s.options.trustedProxies.length > 0 ? s.options.trustedProxies : false,
    frameworkErrors,
    clientErrorHandler,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  })
  installErrorHandling(app)
  installInputGuard(app)
  // `/metrics` on this port only with a token and no separate metrics port (never anonymously).
  const servedHere = s.options.metricsToken !== undefined && s.options.metricsPort === undefined
  installMetrics(app, opts.metrics ?? createMetrics(), s.options.metricsToken, servedHere)
  if (s.options.otlpEndpoint !== undefined) {
    const tracing = installTracing(app, {
      endpoint: s.options.otlpEndpoint,
      sampleRatio: s.options.traceSampleRatio,
      ...(s.options.otlpHeaders ? { headers: s.options.otlpHeaders } : {}),
    })
    // Spans still queued leave when the server closes (bounded by the exporter's 10 s timeout).
    app.addHook('onClose', async () => tracing.shutdown())
  }
  installLogContext(app)
  app.addSchema(errorBodySchema)
  await app.register(formbody)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'CFP control plane', version: '0.1.0', description: 'Tenants, teams, projects, roles, SSO and tokens.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
  })
  installAuth(app, s.authenticator, s.options.serviceToken)
  installDeniedRecorder(app, s)
  publicRoutes(app, s)
  setupRoutes(app, s)
  authRoutes(app, s)
  ssoRoutes(app, s)
  samlLogoutRoutes(app, s)
  tenantRoutes(app, s)
  projectRoutes(app, s)
  deletionRoutes(app, s)
  memberRoutes(app, s)
  credentialRoutes(app, s)
  settingsRoutes(app, s)
  idpRoutes(app, s)
  samlKeyRoutes(app, s)
  systemRoutes(app, s)
  auditRoutes(app, s)
  auditStatusRoutes(app, s)
  auditRetentionRoutes(app, s)
  securityRoutes(app, s)
  serviceRoutes(app, s)
  uiRoutes(app, s)
  return app
}
