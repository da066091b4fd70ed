/**
 * Security alerts for the workbench (docs/control-plane.md "Security alerts"): `audit.read` on the system lists
 * every alert; with `tenant`, `audit.read` on that tenant lists its alerts. Newest first, paged by `before` (an
 * alert id). Bad parameters get 400 `invalid_request` naming the parameter.
 */
import type { FastifyInstance } from 'fastify'
import { authorize } from '../authz.js'
import { locate } from '../db/scopes.js'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import { obj, spec } from './schema.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const RULES = ['login_failures', 'refresh_reuse', 'denied_burst', 'verification_failed']
const PARAMS = ['tenant', 'rule', 'before', 'limit']
const bad = (parameter: string, message: string) => new ApiError(400, 'invalid_request', `${parameter}: ${message}`, { parameter })
const str = { type: 'string', maxLength: 100 } as const

const alertSchema = obj({
  id: { type: 'integer' },
  createdAt: { type: 'string' },
  rule: { type: 'string' },
  severity: { type: 'string' },
  tenantId: { type: ['string', 'null'] },
  subject: { type: ['string', 'null'] },
  details: { type: 'object', additionalProperties: true },
  source: obj({ chain: { type: 'string' }, seq: { type: 'integer' }, time: { type: 'string' } }),
  deliveries: obj({ pending: { type: 'integer' }, delivered: { type: 'integer' }, failed: { type: 'integer' } }),
})

interface Row {
  id: string
  created_at: Date
  rule: string
  severity: string
  tenant_id: string | null
  subject: string | null
  details: Record<string, unknown>
  source_chain: string
  source_seq: string
  source_time: Date
  pending: number
  delivered: number
  failed: number
}

export function securityRoutes(app: FastifyInstance, s: Services): void {
  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/v1/security/alerts',
    {
      schema: spec({
        summary:
          'Security alerts raised by the rules over the audit stream, newest first: every alert (audit.read on the system), ' +
          'or with tenant those of that tenant (audit.read on it). Page with before=<the last id>',
        tags: ['audit'],
        querystring: { type: 'object', properties: Object.fromEntries(PARAMS.map((k) => [k, str])) },
        response: { 200: obj({ items: { type: 'array', items: alertSchema }, next: { type: ['integer', 'null'] } }) },
      }),
    },
    async (request) => {
      const q = request.query
      for (const k of Object.keys(q)) if (!PARAMS.includes(k)) throw bad(k, 'unknown parameter')
      const where: string[] = []
      const args: unknown[] = []
      const add = (sql: string, v: unknown) => {
        args.push(v)
        where.push(sql.replace('?', `$${args.length}`))
      }
      if (q.tenant !== undefined) {
        if (!UUID.test(q.tenant)) throw bad('tenant', 'must be a UUID')
        authorize(request, s, 'audit.read', { path: { tenant: q.tenant }, region: '' }, 'tenant')
        add('a.tenant_id = ?', q.tenant)
      } else {
        authorize(request, s, 'audit.read', await locate(s.db, 'system'), 'security alerts')
      }
      if (q.rule !== undefined) {
        if (!RULES.includes(q.rule)) throw bad('rule', `must be one of ${RULES.join(', ')}`)
        add('a.rule = ?', q.rule)
      }
      if (q.before !== undefined) {
        if (!/^\d{1,18}$/.test(q.before)) throw bad('before', 'must be an alert id')
        add('a.id < ?', q.before)
      }
      const limit = q.limit === undefined ? 100 : /^\d{1,3}$/.test(q.limit) && Number(q.limit) >= 1 && Number(q.limit) <= 500 ? Number(q.limit) : NaN
      if (Number.isNaN(limit)) throw bad('limit', 'must be an integer from 1 to 500')
      args.push(limit + 1)
      const { rows } = await s.db.query<Row>(
        `SELECT a.*,
                (SELECT count(*)::int FROM security_deliveries d WHERE d.alert_id = a.id AND d.delivered_at IS NULL AND d.failed_at IS NULL) AS pending,
                (SELECT count(*)::int FROM security_deliveries d WHERE d.alert_id = a.id AND d.delivered_at IS NOT NULL) AS delivered,
                (SELECT count(*)::int FROM security_deliveries d WHERE d.alert_id = a.id AND d.failed_at IS NOT NULL) AS failed
           FROM security_alerts a ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY a.id DESC LIMIT $${args.length}`,
        args,
      )
      const page = rows.slice(0, limit)
      return {
        items: page.map((r) => ({
          id: Number(r.id),
          createdAt: r.created_at.toISOString(),
          rule: r.rule,
          severity: r.severity,
          tenantId: r.tenant_id,
          subject: r.subject,
          details: r.details,
          source: { chain: r.source_chain, seq: Number(r.source_seq), time: r.source_time.toISOString() },
          deliveries: { pending: r.pending, delivered: r.delivered, failed: r.failed },
        })),
        next: rows.length > limit ? Number(page[page.length - 1]!.id) : null,
      }
    },
  )
}
