/**
 * Deleting projects, teams and tenants. Each is a soft delete (`deleted_at`): the row stays so that what was
 * deleted — and the runtime data it still owns, which is not purged — can be traced, but every read of the
 * hierarchy skips it (404 like an unknown id, gone from every list) and its slug may be used again. The runtimes'
 * settings feed (`GET /v1/service/projects`) sends a deleted project once more, marked `deleted: true`, so that a
 * runtime forgets it and answers 404 for it; a first sync leaves it out.
 *
 * The caller repeats the object's slug in the body (`{"confirm": "<slug>"}`), as a guard against deleting the
 * wrong thing. A team must hold no live projects and a tenant no live teams (409 `not_empty`, with the count).
 * Everything happens in one transaction under a row lock (creating a project locks its team, a team its
 * tenant, so nothing is added to what is being deleted): a refused request leaves nothing changed.
 *
 * What goes with it, through the existing revocation feed so runtimes see it within a poll:
 * - project: every API key and worker token is revoked (`credential` rows: runtimes refuse them and drop the
 *   workers connected with them); its role bindings and IdP group mappings are removed;
 * - team: its role bindings and group mappings;
 * - tenant: its role bindings and memberships, its identity providers (with their mappings and linked
 *   identities), its pending login codes, and every session opened through its providers (`session` rows).
 * Whoever lost a binding or membership gets a `user` revocation confined to the deleted object's tenant (its
 * `tenantId`), so the tokens still carrying it die everywhere while the user's tokens for their other tenants,
 * which carry nothing of this one, live on.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type pg from 'pg'
import { audit } from '../audit/record.js'
import { authorize } from '../authz.js'
import { locateProject, locateTeam, locateTenant, type Located } from '../db/scopes.js'
import { invalid, notEmpty, notFound } from '../errors.js'
import type { Services } from '../services.js'
import { body, idParams, spec } from './schema.js'

type Kind = 'tenant' | 'team' | 'project'

const confirmBody = body({ confirm: { type: 'string', maxLength: 100, description: "the object's slug, typed again" } }, ['confirm'])

/** A DELETE without a body is validated as `{}`, so the answer names the missing field (`confirm`). */
async function emptyBodyAsObject(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {}
}

/** Locks the live row and checks the confirmation; 404 when it was deleted meanwhile. */
async function lockAndConfirm(c: pg.PoolClient, kind: Kind, id: string, confirm: string): Promise<string> {
  const table = { tenant: 'tenants', team: 'teams', project: 'projects' }[kind]
  const { rows } = await c.query<{ slug: string }>(`SELECT slug FROM ${table} WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, [id])
  const slug = rows[0]?.slug
  if (slug === undefined) throw notFound(kind)
  if (confirm !== slug) throw invalid(`confirm: must be the ${kind}'s slug, "${slug}"`)
  return slug
}

/**
 * `user` revocations for everyone who lost a binding or membership in `tenantId`, once each: they end the tokens
 * issued for that tenant only (a token carries the bindings of its own tenant and system-wide ones).
 */
async function revokeUsers(s: Services, c: pg.PoolClient, userIds: string[], reason: string, tenantId: string): Promise<void> {
  for (const id of new Set(userIds)) await s.revocations.add(c, 'user', id, reason, { tenantId })
}

/** The tenant of a live project or team (locked by `lockAndConfirm` already). */
async function tenantOf(c: pg.PoolClient, kind: 'team' | 'project', id: string): Promise<string> {
  const { rows } = await c.query<{ tenant_id: string }>(`SELECT tenant_id FROM ${kind}s WHERE id = $1`, [id])
  return rows[0]!.tenant_id
}

const users = (r: pg.QueryResult<{ user_id: string }>) => r.rows.map((row) => row.user_id)

export function deletionRoutes(app: FastifyInstance, s: Services): void {
  const route = (
    kind: Kind,
    url: string,
    param: string,
    locate: (id: string) => Promise<Located | undefined>,
    summary: string,
    remove: (c: pg.PoolClient, id: string, now: Date) => Promise<void>,
  ) =>
    app.delete<{ Params: Record<string, string>; Body: { confirm: string } }>(
      url,
      {
        preValidation: emptyBodyAsObject,
        schema: spec({ summary, tags: [`${kind}s`], params: idParams(param), body: confirmBody, response: { 204: { type: 'null' } } }),
      },
      async (request, reply) => {
        const id = request.params[param]!
        const target = await locate(id)
        authorize(request, s, `${kind}.delete`, target, kind)
        await s.db.tx(async (c) => {
          const slug = await lockAndConfirm(c, kind, id, request.body.confirm)
          await remove(c, id, new Date(s.clock.now()))
          await audit(s, c, request, { kind: `${kind}.delete`, scope: target!.path, target: { type: kind, id }, details: { slug } })
        })
        return reply.status(204).send()
      },
    )

  route(
    'project',
    '/v1/projects/:projectId',
    'projectId',
    (id) => locateProject(s.db, id),
    'Delete a project (soft delete): revokes its API keys and worker tokens, removes its role bindings; body {"confirm": "<slug>"}',
    async (c, id, now) => {
      const { rows: creds } = await c.query<{ id: string }>('SELECT id FROM credentials WHERE project_id = $1 AND revoked_at IS NULL', [id])
      for (const cred of creds) await s.credentials.revoke(c, cred.id, 'project deleted')
      const bound = await c.query<{ user_id: string }>('DELETE FROM role_bindings WHERE project_id = $1 RETURNING user_id', [id])
      await c.query('DELETE FROM group_mappings WHERE project_id = $1', [id])
      await c.query('UPDATE projects SET deleted_at = $2, updated_at = $2 WHERE id = $1', [id, now])
      // runtimes that synced it see it once more in the settings feed, marked `deleted`, and forget it
      await c.query("UPDATE project_settings SET version = nextval('settings_version'), updated_at = $2 WHERE project_id = $1", [id, now])
      await revokeUsers(s, c, users(bound), 'project deleted', await tenantOf(c, 'project', id))
    },
  )

  route(
    'team',
    '/v1/teams/:teamId',
    'teamId',
    (id) => locateTeam(s.db, id),
    'Delete a team without projects (soft delete; 409 not_empty otherwise); body {"confirm": "<slug>"}',
    async (c, id, now) => {
      const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM projects WHERE team_id = $1 AND deleted_at IS NULL', [id])
      const n = rows[0]!.n
      if (n > 0) throw notEmpty(`the team still has ${n} project${n === 1 ? '' : 's'}: delete ${n === 1 ? 'it' : 'them'} first`, { projects: n })
      const bound = await c.query<{ user_id: string }>('DELETE FROM role_bindings WHERE team_id = $1 RETURNING user_id', [id])
      await c.query('DELETE FROM group_mappings WHERE team_id = $1 OR project_id IN (SELECT id FROM projects WHERE team_id = $1)', [id])
      await c.query('UPDATE teams SET deleted_at = $2, updated_at = $2 WHERE id = $1', [id, now])
      await revokeUsers(s, c, users(bound), 'team deleted', await tenantOf(c, 'team', id))
    },
  )

  route(
    'tenant',
    '/v1/tenants/:tenantId',
    'tenantId',
    (id) => locateTenant(s.db, id),
    'Delete a tenant without teams (soft delete; 409 not_empty otherwise): its members, bindings and identity providers go; body {"confirm": "<slug>"}',
    async (c, id, now) => {
      const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM teams WHERE tenant_id = $1 AND deleted_at IS NULL', [id])
      const n = rows[0]!.n
      if (n > 0) throw notEmpty(`the tenant still has ${n} team${n === 1 ? '' : 's'}: delete ${n === 1 ? 'it' : 'them'} first`, { teams: n })
      const bound = await c.query<{ user_id: string }>('DELETE FROM role_bindings WHERE tenant_id = $1 RETURNING user_id', [id])
      const members = await c.query<{ user_id: string }>('DELETE FROM memberships WHERE tenant_id = $1 RETURNING user_id', [id])
      const { rows: sessions } = await c.query<{ id: string }>('SELECT id FROM sessions WHERE tenant_id = $1 AND revoked_at IS NULL', [id])
      for (const session of sessions) await s.sessions.revokeIn(c, session.id, 'tenant deleted')
      await c.query('DELETE FROM login_codes WHERE tenant_id = $1', [id])
      await c.query('DELETE FROM identity_providers WHERE tenant_id = $1', [id])
      await c.query('UPDATE tenants SET deleted_at = $2, updated_at = $2 WHERE id = $1', [id, now])
      await revokeUsers(s, c, [...users(bound), ...users(members)], 'tenant deleted', id)
    },
  )
}
