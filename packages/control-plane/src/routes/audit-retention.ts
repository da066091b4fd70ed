/**
 * A tenant's audit retention and legal holds (docs/audit.md "Retention and legal hold"): read with `audit.read` on
 * the tenant. The audited party does not control the destruction of its own evidence: setting the retention
 * (`audit.retention.write`) and releasing a hold (`audit.hold.release`) are the platform's (system admin, system
 * auditor), never a tenant binding's; placing a hold (`audit.hold.place`) only keeps more, so the tenant's admins and
 * auditors may too. No retention is set below the platform's floor (`--audit-retention-min-days`). Each change is
 * audited in the tenant's chain (`audit.retention.set`, `audit.hold.placed`, `audit.hold.released`); a refusal is
 * an `authz.denied` entry.
 */
import type { FastifyInstance } from 'fastify'
import { authorize } from '../authz.js'
import { locateTenant } from '../db/scopes.js'
import { notFound } from '../errors.js'
import type { Services } from '../services.js'
import { body, idParams, obj, spec } from './schema.js'

const tags = ['audit']
const hold = obj({
  id: { type: 'integer' },
  tenant: { type: 'string' },
  reason: { type: 'string' },
  placedBy: { type: ['string', 'null'] },
  placedAt: { type: 'string' },
  releasedBy: { type: ['string', 'null'] },
  releasedAt: { type: ['string', 'null'] },
})
const retention = obj({
  days: { type: ['integer', 'null'] },
  defaultDays: { type: 'integer' },
  minDays: { type: 'integer' },
  holds: { type: 'array', items: hold },
  pruned: { type: 'array', items: obj({ chain: { type: 'string' }, size: { type: 'integer' }, at: { type: 'string' }, by: { type: 'string' } }) },
})

export function auditRetentionRoutes(app: FastifyInstance, s: Services): void {
  app.get<{ Params: { tenantId: string } }>(
    '/v1/tenants/:tenantId/audit/retention',
    {
      schema: spec({
        summary: "The tenant's audit retention (null: the control plane's default; 0 = forever), its legal holds and its pruned ranges",
        tags,
        params: idParams('tenantId'),
        response: { 200: retention },
      }),
    },
    async (request) => {
      authorize(request, s, 'audit.read', await locateTenant(s.db, request.params.tenantId), 'tenant')
      return s.auditRetention.get(request.params.tenantId)
    },
  )

  app.put<{ Params: { tenantId: string }; Body: { days: number | null } }>(
    '/v1/tenants/:tenantId/audit/retention',
    {
      schema: spec({
        summary:
          "Set the tenant's audit retention in days (entries older are pruned, whole checkpointed ranges only; at least the platform's floor, minDays), or null for the default. Platform only (audit.retention.write)",
        tags,
        params: idParams('tenantId'),
        body: body({ days: { type: ['integer', 'null'], minimum: 1, maximum: 36500 } }, ['days']),
        response: { 200: retention },
      }),
    },
    async (request) => {
      authorize(request, s, 'audit.retention.write', await locateTenant(s.db, request.params.tenantId), 'tenant')
      await s.auditRetention.setRetention(request.params.tenantId, request.body.days, request)
      return s.auditRetention.get(request.params.tenantId)
    },
  )

  app.post<{ Params: { tenantId: string }; Body: { reason: string } }>(
    '/v1/tenants/:tenantId/audit/holds',
    {
      schema: spec({
        summary: "Place a legal hold on the tenant's audit chains: nothing of them is pruned until it is released",
        tags,
        params: idParams('tenantId'),
        body: body({ reason: { type: 'string', minLength: 1, maxLength: 1000 } }, ['reason']),
        response: { 201: hold },
      }),
    },
    async (request, reply) => {
      authorize(request, s, 'audit.hold.place', await locateTenant(s.db, request.params.tenantId), 'tenant')
      reply.code(201)
      return s.auditRetention.placeHold(request.params.tenantId, request.body.reason, request)
    },
  )

  app.delete<{ Params: { tenantId: string; holdId: string } }>(
    '/v1/tenants/:tenantId/audit/holds/:holdId',
    {
      schema: spec({
        summary: 'Release a legal hold (kept, with who released it and when). Platform only (audit.hold.release)',
        tags,
        params: {
          type: 'object',
          required: ['tenantId', 'holdId'],
          additionalProperties: false,
          properties: { tenantId: { type: 'string', format: 'uuid' }, holdId: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' } },
        },
        response: { 200: hold },
      }),
    },
    async (request) => {
      authorize(request, s, 'audit.hold.release', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const released = await s.auditRetention.releaseHold(request.params.tenantId, Number(request.params.holdId), request)
      if (!released) throw notFound('legal hold in force')
      return released
    },
  )
}
