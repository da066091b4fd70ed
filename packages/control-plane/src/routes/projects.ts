/** Projects: created in a team, inheriting the tenant's region. Deleting one: routes/deletion.ts. */
import type { FastifyInstance } from 'fastify'
import { audit } from '../audit/record.js'
import { authorize, visible } from '../authz.js'
import { locateProject, locateTeam } from '../db/scopes.js'
import { conflict, notFound } from '../errors.js'
import type { Services } from '../services.js'
import { body, idParams, list, name, projectSchema, slug, spec, toProject } from './schema.js'

const SELECT = 'SELECT p.*, t.region FROM projects p JOIN tenants t ON t.id = p.tenant_id'

export function projectRoutes(app: FastifyInstance, s: Services): void {
  app.post<{ Params: { teamId: string }; Body: { slug: string; name: string } }>(
    '/v1/teams/:teamId/projects',
    {
      schema: spec({
        summary: 'Create a project in a team',
        tags: ['projects'],
        params: idParams('teamId'),
        body: body({ slug, name }, ['slug', 'name']),
        response: { 201: projectSchema },
      }),
    },
    async (request, reply) => {
      const team = await locateTeam(s.db, request.params.teamId)
      authorize(request, s, 'project.create', team, 'team')
      const id = await s.db
        .tx(async (c) => {
          // the team stays live until the project exists (a concurrent DELETE of the team waits, then counts it)
          const live = await c.query('SELECT 1 FROM teams WHERE id = $1 AND deleted_at IS NULL FOR SHARE', [request.params.teamId])
          if (!live.rowCount) throw notFound('team')
          const { rows } = await c.query<{ id: string }>('INSERT INTO projects (tenant_id, team_id, slug, name) VALUES ($1, $2, $3, $4) RETURNING id', [
            team!.path.tenant,
            request.params.teamId,
            request.body.slug,
            request.body.name,
          ])
          await c.query('INSERT INTO project_settings (project_id) VALUES ($1)', [rows[0]!.id])
          await audit(s, c, request, {
            kind: 'project.create',
            scope: { ...team!.path, project: rows[0]!.id },
            target: { type: 'project', id: rows[0]!.id },
            details: { slug: request.body.slug, name: request.body.name, team: request.params.teamId },
          })
          return rows[0]!.id
        })
        .catch((e: { code?: string }) => {
          if (e.code === '23505') throw conflict('a project with this slug already exists in the tenant')
          throw e
        })
      const { rows } = await s.db.query(`${SELECT} WHERE p.id = $1`, [id])
      reply.status(201)
      return toProject(rows[0])
    },
  )

  app.get<{ Params: { teamId: string } }>(
    '/v1/teams/:teamId/projects',
    {
      schema: spec({
        summary: 'Projects of a team the caller may read',
        tags: ['projects'],
        params: idParams('teamId'),
        response: { 200: list(projectSchema) },
      }),
    },
    async (request) => {
      const p = authorize(request, s, 'team.read', await locateTeam(s.db, request.params.teamId), 'team')
      const { rows } = await s.db.query(`${SELECT} WHERE p.team_id = $1 AND p.deleted_at IS NULL ORDER BY p.slug`, [request.params.teamId])
      const items = visible(s, p, 'project.read', rows, (r) => ({ tenant: r.tenant_id, team: r.team_id, project: r.id }))
      return { items: items.map(toProject) }
    },
  )

  app.get<{ Params: { projectId: string } }>(
    '/v1/projects/:projectId',
    { schema: spec({ summary: 'Read a project', tags: ['projects'], params: idParams('projectId'), response: { 200: projectSchema } }) },
    async (request) => {
      authorize(request, s, 'project.read', await locateProject(s.db, request.params.projectId), 'project')
      const { rows } = await s.db.query(`${SELECT} WHERE p.id = $1`, [request.params.projectId])
      return toProject(rows[0])
    },
  )

  app.patch<{ Params: { projectId: string }; Body: { name: string } }>(
    '/v1/projects/:projectId',
    {
      schema: spec({
        summary: 'Rename a project',
        tags: ['projects'],
        params: idParams('projectId'),
        body: body({ name }, ['name']),
        response: { 200: projectSchema },
      }),
    },
    async (request) => {
      const project = await locateProject(s.db, request.params.projectId)
      authorize(request, s, 'project.update', project, 'project')
      const id = request.params.projectId
      await s.db.tx(async (c) => {
        const updated = await c.query('UPDATE projects SET name = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL', [id, request.body.name])
        if (!updated.rowCount) throw notFound('project')
        await audit(s, c, request, {
          kind: 'project.update',
          scope: project!.path,
          target: { type: 'project', id },
          details: { changed: ['name'], name: request.body.name },
        })
      })
      const { rows } = await s.db.query(`${SELECT} WHERE p.id = $1`, [request.params.projectId])
      return toProject(rows[0])
    },
  )
}
