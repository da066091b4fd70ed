/** Tenants (pinned to a region at creation) and their teams. Deleting either: routes/deletion.ts. */
import type { FastifyInstance } from 'fastify'
import { audit } from '../audit/record.js'
import { authorize, principalOf, visible } from '../authz.js'
import { locate, locateTeam, locateTenant } from '../db/scopes.js'
import { conflict, invalid, notFound } from '../errors.js'
import type { Services } from '../services.js'
import { body, idParams, list, name, slug, spec, teamSchema, tenantSchema, toTeam, toTenant } from './schema.js'

const unique = (err: unknown, what: string): never => {
  if ((err as { code?: string }).code === '23505') throw conflict(`${what} already exists`)
  throw err
}

export function tenantRoutes(app: FastifyInstance, s: Services): void {
  app.post<{ Body: { slug: string; name: string; region: string } }>(
    '/v1/tenants',
    {
      schema: spec({
        summary: 'Create a tenant in a region (the region never changes)',
        tags: ['tenants'],
        body: body({ slug, name, region: { type: 'string', maxLength: 32 } }, ['slug', 'name', 'region']),
        response: { 201: tenantSchema },
      }),
    },
    async (request, reply) => {
      authorize(request, s, 'tenant.create', await locate(s.db, 'system'))
      const b = request.body
      if (!s.options.regions.includes(b.region)) throw invalid(`region: must be one of ${s.options.regions.join(', ')}`)
      const row = await s.db
        .tx(async (c) => {
          const { rows } = await c.query('INSERT INTO tenants (slug, name, region) VALUES ($1, $2, $3) RETURNING *', [b.slug, b.name, b.region])
          await c.query('INSERT INTO tenant_settings (tenant_id) VALUES ($1)', [rows[0].id])
          await audit(s, c, request, {
            kind: 'tenant.create',
            system: true,
            scope: { tenant: rows[0].id },
            target: { type: 'tenant', id: rows[0].id },
            details: { slug: b.slug, name: b.name, region: b.region },
          })
          return rows[0]
        })
        .catch((e) => unique(e, 'a tenant with this slug'))
      reply.status(201)
      return toTenant(row)
    },
  )

  app.get(
    '/v1/tenants',
    { schema: spec({ summary: 'Tenants the caller may read', tags: ['tenants'], response: { 200: list(tenantSchema) } }) },
    async (request) => {
      const p = principalOf(request)
      const { rows } = await s.db.query('SELECT * FROM tenants WHERE deleted_at IS NULL ORDER BY slug')
      return { items: visible(s, p, 'tenant.read', rows, (r) => ({ tenant: r.id })).map(toTenant) }
    },
  )

  app.get<{ Params: { tenantId: string } }>(
    '/v1/tenants/:tenantId',
    { schema: spec({ summary: 'Read a tenant', tags: ['tenants'], params: idParams('tenantId'), response: { 200: tenantSchema } }) },
    async (request) => {
      authorize(request, s, 'tenant.read', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const { rows } = await s.db.query('SELECT * FROM tenants WHERE id = $1', [request.params.tenantId])
      return toTenant(rows[0])
    },
  )

  app.patch<{ Params: { tenantId: string }; Body: { name: string } }>(
    '/v1/tenants/:tenantId',
    {
      schema: spec({
        summary: 'Rename a tenant',
        tags: ['tenants'],
        params: idParams('tenantId'),
        body: body({ name }, ['name']),
        response: { 200: tenantSchema },
      }),
    },
    async (request) => {
      authorize(request, s, 'tenant.update', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const id = request.params.tenantId
      const row = await s.db.tx(async (c) => {
        const { rows } = await c.query('UPDATE tenants SET name = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING *', [
          id,
          request.body.name,
        ])
        if (!rows[0]) throw notFound('tenant')
        await audit(s, c, request, {
          kind: 'tenant.update',
          scope: { tenant: id },
          target: { type: 'tenant', id },
          details: { changed: ['name'], name: request.body.name },
        })
        return rows[0]
      })
      return toTenant(row)
    },
  )

  app.post<{ Params: { tenantId: string }; Body: { slug: string; name: string } }>(
    '/v1/tenants/:tenantId/teams',
    {
      schema: spec({
        summary: 'Create a team',
        tags: ['teams'],
        params: idParams('tenantId'),
        body: body({ slug, name }, ['slug', 'name']),
        response: { 201: teamSchema },
      }),
    },
    async (request, reply) => {
      const tenantId = request.params.tenantId
      authorize(request, s, 'team.create', await locateTenant(s.db, tenantId), 'tenant')
      const row = await s.db
        .tx(async (c) => {
          // the tenant stays live until the team exists (a concurrent DELETE of the tenant waits, then finds it)
          const live = await c.query('SELECT 1 FROM tenants WHERE id = $1 AND deleted_at IS NULL FOR SHARE', [tenantId])
          if (!live.rowCount) throw notFound('tenant')
          const { rows } = await c.query('INSERT INTO teams (tenant_id, slug, name) VALUES ($1, $2, $3) RETURNING *', [
            tenantId,
            request.body.slug,
            request.body.name,
          ])
          await audit(s, c, request, {
            kind: 'team.create',
            scope: { tenant: tenantId, team: rows[0].id },
            target: { type: 'team', id: rows[0].id },
            details: { slug: request.body.slug, name: request.body.name },
          })
          return rows[0]
        })
        .catch((e) => unique(e, 'a team with this slug'))
      reply.status(201)
      return toTeam(row)
    },
  )

  app.get<{ Params: { tenantId: string } }>(
    '/v1/tenants/:tenantId/teams',
    {
      schema: spec({ summary: 'Teams of a tenant the caller may read', tags: ['teams'], params: idParams('tenantId'), response: { 200: list(teamSchema) } }),
    },
    async (request) => {
      const p = authorize(request, s, 'tenant.read', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const { rows } = await s.db.query('SELECT * FROM teams WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY slug', [request.params.tenantId])
      return { items: visible(s, p, 'team.read', rows, (r) => ({ tenant: r.tenant_id, team: r.id })).map(toTeam) }
    },
  )

  app.get<{ Params: { teamId: string } }>(
    '/v1/teams/:teamId',
    { schema: spec({ summary: 'Read a team', tags: ['teams'], params: idParams('teamId'), response: { 200: teamSchema } }) },
    async (request) => {
      authorize(request, s, 'team.read', await locateTeam(s.db, request.params.teamId), 'team')
      const { rows } = await s.db.query('SELECT * FROM teams WHERE id = $1', [request.params.teamId])
      return toTeam(rows[0])
    },
  )

  app.patch<{ Params: { teamId: string }; Body: { name: string } }>(
    '/v1/teams/:teamId',
    {
      schema: spec({ summary: 'Rename a team', tags: ['teams'], params: idParams('teamId'), body: body({ name }, ['name']), response: { 200: teamSchema } }),
    },
    async (request) => {
      const team = await locateTeam(s.db, request.params.teamId)
      authorize(request, s, 'team.update', team, 'team')
      const id = request.params.teamId
      const row = await s.db.tx(async (c) => {
        const { rows } = await c.query('UPDATE teams SET name = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING *', [
          id,
          request.body.name,
        ])
        if (!rows[0]) throw notFound('team')
        await audit(s, c, request, {
          kind: 'team.update',
          scope: team!.path,
          target: { type: 'team', id },
          details: { changed: ['name'], name: request.body.name },
        })
        return rows[0]
      })
      return toTeam(row)
    },
  )
}
