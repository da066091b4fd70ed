/**
 * Starting and stopping one control-plane process: migrate, make sure a signing key exists, build the app,
 * listen, print the setup link when the installation has no admin, run the periodic tasks (key rotation,
 * pruning), and drain everything on `close()`.
 */
import type { FastifyInstance } from 'fastify'
import { buildApp, type AppOptions } from './app.js'
import { prepareSetupLink } from './auth/bootstrap.js'
import { pruneSpKeys } from './auth/saml-sp-key.js'
import { systemClock, type Clock } from './clock.js'
import { migrate } from './db/migrate.js'
import { openDb } from './db/pool.js'
import type { Options } from './options.js'
import { loadPolicy } from './policy/load.js'
import type { Policy } from './policy/types.js'
import { createMetrics, listenMetrics } from './metrics.js'
import { createServices, type Services } from './services.js'

export interface Started {
  app: FastifyInstance
  services: Services
  /** base URL it listens on */
  url: string
  /** one-time setup link when no system admin exists yet */
  setupUrl?: string
  /** base URL of the separate metrics listener (`--metrics-port`) */
  metricsUrl?: string
  close(): Promise<void>
}

export interface StartOptions extends AppOptions {
  clock?: Clock
  policy?: Policy
  /** run the periodic maintenance loop (default true) */
  maintenance?: boolean
}

export async function startControlPlane(options: Options, opts: StartOptions = {}): Promise<Started> {
  const db = openDb(options.databaseUrl, options.schema)
  try {
    await migrate(db)
    const services = createServices(options, db, opts.clock ?? systemClock, opts.policy ?? loadPolicy())
    await services.keys.ensureKey()
    const metrics = opts.metrics ?? createMetrics()
    const app = await buildApp(services, { ...opts, metrics })
    await app.listen({ host: options.host, port: options.port })
    const metricsServer = options.metricsPort === undefined ? undefined : await listenMetrics(metrics, options.host, options.metricsPort, options.metricsToken)
    const maddr = metricsServer?.address()
    const metricsUrl =
      maddr && typeof maddr === 'object' ? `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${maddr.port}` : undefined
    const address = app.server.address()
    const port = typeof address === 'object' && address ? address.port : options.port
    const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`
    if (options.port === 0) {
      // `--port 0`: the defaults derived from the port (setup link, SSO callbacks, token issuer) use the real one.
      const placeholder = url.replace(/:\d+$/, ':0')
      if (options.publicUrl === placeholder) options.publicUrl = url
      if (options.issuer === placeholder) options.issuer = url
    }
    const setupUrl = await prepareSetupLink(services)
    services.sequencer.log = (msg, err) => app.log.error({ err }, msg)
    services.sequencer.start()
    services.auditWatch.log = (level, msg, err) => app.log[level]({ err }, msg)
    if (opts.maintenance !== false) services.auditWatch.start()
    services.auditRetention.log = (msg, err) => app.log.error({ err }, msg)
    if (opts.maintenance !== false) services.auditRetention.start()
    services.security.log = (msg, err) => app.log.error({ err }, msg)
    services.security.start()
    const timer = opts.maintenance === false ? undefined : setInterval(() => void maintenance(services, app), 60_000)
    timer?.unref()
    return {
      app,
      services,
      url,
      ...(setupUrl ? { setupUrl } : {}),
      ...(metricsUrl ? { metricsUrl } : {}),
      async close() {
        if (timer) clearInterval(timer)
        if (metricsServer) await new Promise((r) => metricsServer.close(r))
        await app.close()
        await services.auditWatch.stop()
        await services.auditRetention.stop()
        await services.security.stop()
        await services.sequencer.stop()
        await db.close()
      },
    }
  } catch (err) {
    await db.close()
    throw err
  }
}

/** Periodic work; every replica may run it (rotation takes an advisory lock, deletes are idempotent). */
export async function maintenance(s: Services, app?: FastifyInstance): Promise<void> {
  try {
    await s.keys.maybeRotate()
    await s.revocations.prune()
    await s.loginThrottle.prune()
    const now = new Date(s.clock.now())
    await s.db.query('DELETE FROM login_states WHERE expires_at < $1', [now])
    await s.db.query('DELETE FROM login_codes WHERE expires_at < $1', [now])
    await s.db.query('DELETE FROM saml_assertions_seen WHERE expires_at < $1', [now])
    await s.db.query('DELETE FROM saml_logout_requests WHERE expires_at < $1', [now])
    await pruneSpKeys(s)
    await s.db.query('DELETE FROM refresh_tokens WHERE expires_at < $1', [now])
  } catch (err) {
    app?.log.error({ err }, 'maintenance failed')
  }
}
