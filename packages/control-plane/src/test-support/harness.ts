/**
 * Test harness: a control plane on its own PostgreSQL schema (dropped on close), driven through
 * `app.inject` or, with `listen`, on a loopback port. `seedWorld()` builds two tenants in two regions with
 * teams, projects and one user per role binding.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { buildApp } from '../app.js'
import { issueTokens } from '../auth/issue.js'
import type { Clock } from '../clock.js'
import { migrate } from '../db/migrate.js'
import { openDb } from '../db/pool.js'
import { parseOptions, type Options } from '../options.js'
import { createServices, type Services } from '../services.js'
import type { Policy } from '../policy/types.js'

export const DB_URL = process.env.CFP_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const SERVICE_TOKEN = 'service-token-for-tests-0123456789'

export interface Reply {
  status: number
  json: any
  headers: Record<string, unknown>
  body: string
}

export interface Harness {
  app: FastifyInstance
  s: Services
  url: string
  request(method: string, url: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Reply>
  /** a fresh session and token pair for a user (optionally for a tenant) */
  login(userId: string, tenantId?: string): Promise<{ access: string; refresh: string }>
  sql(text: string, params?: unknown[]): Promise<any[]>
  close(): Promise<void>
}

export async function createHarness(opts: { clock?: Clock; options?: Partial<Options>; listen?: boolean; policy?: Policy } = {}): Promise<Harness> {
  const schema = `cfp_control_t_${randomBytes(5).toString('hex')}`
  const { options: parsed } = parseOptions([], {
    DATABASE_URL: DB_URL,
    CFP_CONTROL_SCHEMA: schema,
    CFP_CONTROL_MASTER_KEY: randomBytes(32).toString('base64'),
    CFP_CONTROL_REGIONS: 'eu,us',
    CFP_CONTROL_LOG_LEVEL: 'silent',
    CFP_CONTROL_SERVICE_TOKEN: SERVICE_TOKEN,
    CFP_CONTROL_PORT: '0',
    CFP_CONTROL_ALLOW_LOOPBACK_IDP: '1',
  })
  const options = { ...parsed, ...opts.options }
  const db = openDb(options.databaseUrl, schema, 8)
  await migrate(db)
  const { loadPolicy } = await import('../policy/load.js')
  const { systemClock } = await import('../clock.js')
  const s = createServices(options, db, opts.clock ?? systemClock, opts.policy ?? loadPolicy())
  await s.keys.ensureKey()
  const app = await buildApp(s, { logger: false })
  let url = ''
  if (opts.listen) {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const addr = app.server.address()
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
    s.options.publicUrl = url
  } else {
    await app.ready()
  }
  return {
    app,
    s,
    url,
    async request(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers }
      if (o.token) headers.authorization = `Bearer ${o.token}`
      const res = await app.inject({
        method: method as 'GET',
        url: path,
        headers,
        ...(o.body !== undefined ? { payload: o.body as object } : {}),
      })
      let json: unknown
      try {
        json = res.body ? JSON.parse(res.body) : undefined
      } catch {
        json = undefined
      }
      return { status: res.statusCode, json, headers: res.headers, body: res.body }
    },
    async login(userId, tenantId) {
      const session = await s.sessions.create(db, userId, 'test')
      const t = await issueTokens(s, { userId, ...session, ...(tenantId ? { tenantId } : {}) })
      return { access: t.access_token, refresh: t.refresh_token }
    },
    async sql(text, params) {
      return (await db.query(text, params)).rows
    },
    async close() {
      await app.close()
      await db.close()
      const admin = new pg.Client({ connectionString: DB_URL })
      await admin.connect()
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await admin.end()
    },
  }
}
