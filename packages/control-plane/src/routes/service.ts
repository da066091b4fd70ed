/**
 * The service API runtimes call with the service token: the revocation feed and the settings (poll or long-poll,
 * woken at once by a change through {@link ChangeFeed}), credential
 * verification for API keys and worker tokens, and the project settings of a region (with each project's
 * end-user OIDC provider, `auth.oidc`, or `null`). Deleting a project bumps its settings version: a runtime that
 * synced before gets it once more marked `deleted: true` and forgets it; a first sync (`since=0`) lists deleted
 * projects too, marked so, so that a runtime that was down when one was deleted still purges its data.
 */
import type { FastifyInstance } from 'fastify'
import type { ChangeFeed } from '../db/changes.js'
import type { Services } from '../services.js'
import { body, obj, spec, uuid } from './schema.js'
import { authSchema, effectiveLimits, limitsSchema } from './settings.js'

/** A version cursor: bounded so that it stays exact in JavaScript and fits PostgreSQL's bigint. */
const sinceSchema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 } as const

export function serviceRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['service']
  const config = { auth: 'service' as const }
  // before the server waits for in-flight requests: wake the long-polls so that they answer now, and close
  // their connections after the answer (a socket that turns idle after close() began would be waited for until
  // its keep-alive timeout)
  app.addHook('preClose', async () => {
    await s.changes.close()
  })
  app.addHook('onSend', async (_request, reply, payload) => {
    if (s.changes.closed) reply.header('connection', 'close')
    return payload
  })
  const revocation = obj(
    {
      seq: { type: 'integer' },
      kind: { type: 'string', enum: ['session', 'user', 'token', 'credential'] },
      subject: { type: 'string' },
      issuedBefore: { type: 'string', format: 'date-time' },
      tenantId: { type: 'string', format: 'uuid', description: "'user' only: the row ends only the tokens issued for this tenant (tid)" },
      reason: { type: 'string' },
      createdAt: { type: 'string', format: 'date-time' },
      expiresAt: { type: 'string', format: 'date-time' },
    },
    ['seq', 'kind', 'subject', 'reason', 'createdAt', 'expiresAt'],
  )

  app.get<{ Querystring: { since: number; wait: number } }>(
    '/v1/service/revocations',
    {
      config,
      schema: spec({
        summary: 'Revocations after `since` (0 = every live one); `wait` seconds long-polls until one arrives',
        tags,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: sinceSchema, wait: { type: 'integer', minimum: 0, maximum: 25, default: 0 } },
        },
        response: { 200: obj({ version: { type: 'integer' }, items: { type: 'array', items: revocation } }) },
      }),
    },
    async (request) => {
      const deadline = Date.now() + request.query.wait * 1000
      for (;;) {
        const page = await s.revocations.since(request.query.since)
        if (page.items.length > 0 || Date.now() >= deadline || request.raw.destroyed || s.changes.closed) return page
        // woken by a revocation (NOTIFY); re-read at least every second in case a notification was lost
        await s.changes.wait('revocations', Math.min(1_000, deadline - Date.now()))
      }
    },
  )

  app.get(
    '/v1/service/policy',
    {
      config,
      schema: spec({
        summary: 'The permission matrix this control plane enforces (policy/permissions.json); runtimes check with it',
        tags,
        response: { 200: obj({ policy: { type: 'object', additionalProperties: true } }, ['policy']) },
      }),
    },
    async () => ({ policy: s.policy }),
  )

  app.post<{ Body: { token: string } }>(
    '/v1/service/credentials/verify',
    {
      config,
      schema: spec({
        summary: 'Verify a project API key or worker token; returns its project, region, role and actions',
        tags,
        body: body({ token: { type: 'string', maxLength: 200 } }, ['token']),
        response: {
          200: obj(
            {
              valid: { type: 'boolean' },
              credential: obj(
                {
                  id: uuid,
                  kind: { type: 'string' },
                  tenantId: uuid,
                  teamId: uuid,
                  projectId: uuid,
                  region: { type: 'string' },
                  role: { type: ['string', 'null'] },
                  actions: { type: ['array', 'null'], items: { type: 'string' } },
                  expiresAt: { type: ['string', 'null'] },
                },
                ['id', 'kind', 'tenantId', 'teamId', 'projectId', 'region'],
              ),
            },
            ['valid'],
          ),
        },
      }),
    },
    async (request) => {
      const c = await s.credentials.verify(request.body.token)
      if (!c) return { valid: false }
      const actions = c.kind === 'worker' ? s.policy.credentials.workerToken.actions : c.actions
      return { valid: true, credential: { ...c, actions } }
    },
  )

  app.get<{ Querystring: { region: string; since: number; wait: number } }>(
    '/v1/service/projects',
    {
      config,
      schema: spec({
        summary: 'Projects of a region with their settings, changed after settings version `since`; `wait` seconds long-polls until one changes',
        tags,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['region'],
          properties: { region: { type: 'string', maxLength: 32 }, since: sinceSchema, wait: { type: 'integer', minimum: 0, maximum: 10, default: 0 } },
        },
        response: {
          200: obj({
            version: { type: 'integer' },
            items: {
              type: 'array',
              items: obj(
                {
                  projectId: uuid,
                  tenantId: uuid,
                  teamId: uuid,
                  slug: { type: 'string' },
                  limits: limitsSchema,
                  tenantLimits: limitsSchema,
                  cors: { type: 'object', additionalProperties: true },
                  validation: { type: 'object', additionalProperties: true },
                  diagnostics: { type: 'object', additionalProperties: true },
                  auth: authSchema,
                  version: { type: 'integer' },
                  deleted: { type: 'boolean', const: true, description: 'the project was deleted: forget it and purge its data after the retention' },
                },
                ['projectId', 'tenantId', 'teamId', 'slug', 'limits', 'tenantLimits', 'cors', 'validation', 'diagnostics', 'auth', 'version'],
              ),
            },
          }),
        },
      }),
    },
    async (request) => {
      const deadline = Date.now() + request.query.wait * 1000
      for (;;) {
        const page = await projectsSince(s, request.query.region, request.query.since)
        if (page.items.length > 0 || Date.now() >= deadline || request.raw.destroyed || s.changes.closed) return page
        // woken by a settings write (NOTIFY); re-read at least every second in case a notification was lost
        await s.changes.wait('settings', Math.min(1_000, deadline - Date.now()))
      }
    },
  )
}

/** The projects of `region` whose settings changed after `since`, deleted ones marked so. */
async function projectsSince(s: Services, region: string, since: number) {
  const { rows } = await s.db.query(
    `SELECT p.id, p.tenant_id, p.team_id, p.slug, ps.limits, ts.limits AS tenant_limits, ps.cors, ps.validation, ps.diagnostics, ps.auth,
            greatest(ps.version, ts.version) AS version, p.deleted_at IS NOT NULL AS deleted
       FROM projects p JOIN tenants t ON t.id = p.tenant_id JOIN project_settings ps ON ps.project_id = p.id
       JOIN tenant_settings ts ON ts.tenant_id = t.id
      WHERE t.region = $1 AND greatest(ps.version, ts.version) > $2
      ORDER BY version`,
    [region, since],
  )
  const items = rows.map((r) => ({
    projectId: r.id,
    tenantId: r.tenant_id,
    teamId: r.team_id,
    slug: r.slug,
    limits: effectiveLimits(r.tenant_limits, r.limits, s.options.limitCeilings),
    tenantLimits: effectiveLimits(r.tenant_limits, {}, s.options.limitCeilings),
    cors: r.cors,
    validation: r.validation,
    diagnostics: r.diagnostics,
    auth: { oidc: r.auth?.oidc ?? null },
    version: Number(r.version),
    ...(r.deleted ? { deleted: true } : {}),
  }))
  return { version: items.at(-1)?.version ?? since, items }
}
