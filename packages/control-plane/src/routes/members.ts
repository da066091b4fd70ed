/**
 * Tenant members and role bindings. Granting needs `rolebinding.create` on the scope *and* a binding on or
 * above it whose role may grant the role (`mayGrant`); a binding's user must be a member of its tenant.
 * Removing a binding or a member writes a `user` revocation, so older tokens die everywhere within seconds; one
 * confined to the tenant when the binding or membership was in a tenant (the user's tokens for their other
 * tenants carry nothing of it and live on).
 *
 * Adding an existing user to a tenant by e-mail needs `member.invite` in every tenant they already belong to (and
 * at the system scope when they hold a system-wide binding): a tenant admin cannot make another tenant's user a
 * member of theirs (then bind them roles) without that tenant's say. A new address, or a user with no membership
 * and no binding, is added as before.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type pg from 'pg'
import { audit } from '../audit/record.js'
import { authorize } from '../authz.js'
import type { Queryable } from '../db/pool.js'
import { locate, locateTenant, type Located } from '../db/scopes.js'
import { ApiError, conflict, forbidden, invalid, notFound } from '../errors.js'
import { can, canGrant } from '../policy/evaluate.js'
import type { Principal, ScopeKind } from '../policy/types.js'
import type { Services } from '../services.js'
import { bindingSchema, body, idParams, list, obj, scopeSchema, spec, timestamp, toBindingView, uuid } from './schema.js'

interface ScopeRef {
  kind: ScopeKind
  id?: string
}

const memberSchema = obj({ userId: uuid, email: { type: 'string' }, displayName: { type: 'string' }, createdAt: timestamp })

/** `lock`: held FOR SHARE until commit, so that a concurrent DELETE of the scope cannot leave the binding behind. */
async function grantTarget(q: Queryable, scope: ScopeRef, lock = false): Promise<Located | undefined> {
  if (scope.kind !== 'system' && !scope.id) throw invalid('scope.id is required unless scope.kind is system')
  return locate(q, scope.kind, scope.id, lock)
}

/** Checks and inserts one binding inside a transaction. */
async function bind(s: Services, request: FastifyRequest, c: pg.PoolClient, userId: string, role: string, scope: ScopeRef) {
  const target = await grantTarget(c, scope, true)
  const p = authorize(request, s, 'rolebinding.create', target, 'scope')
  if (!s.policy.roles[role]) throw invalid(`role: unknown role ${role}`)
  if (!s.policy.roles[role].bindableAt.includes(scope.kind)) throw invalid(`role: ${role} cannot be bound at a ${scope.kind}`)
  if (!canGrant(s.policy, p, role, target!.path)) throw forbidden(`granting ${role}`)
  const path = target!.path
  if (path.tenant) {
    const m = await c.query('SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2', [path.tenant, userId])
    if (!m.rowCount) throw invalid('userId: not a member of this tenant (invite them first)')
  } else {
    const u = await c.query('SELECT 1 FROM users WHERE id = $1', [userId])
    if (!u.rowCount) throw notFound('user')
  }
  const { rows } = await c
    .query(
      `INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id, team_id, project_id, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [userId, role, scope.kind, path.tenant ?? null, path.team ?? null, path.project ?? null, p.kind === 'user' ? p.id : null],
    )
    .catch((e: { code?: string }) => {
      if (e.code === '23505') throw conflict('this role binding already exists')
      throw e
    })
  await audit(s, c, request, {
    kind: 'role_binding.create',
    scope: path,
    target: { type: 'role_binding', id: rows[0].id },
    details: { principal: userId, role, target_type: scope.kind, target_id: scope.id ?? null },
  })
  return rows[0]
}

/** Refuses to add an existing user whose other tenants (or system-wide bindings) the caller does not administer. */
async function assertMayAdopt(s: Services, c: Queryable, p: Principal, userId: string, tenantId: string): Promise<void> {
  const { rows } = await c.query<{ tenant_id: string | null }>(
    `SELECT tenant_id FROM memberships WHERE user_id = $1 AND tenant_id <> $2
     UNION SELECT NULL FROM role_bindings WHERE user_id = $1 AND tenant_id IS NULL`,
    [userId, tenantId],
  )
  if (rows.every((r) => can(s.policy, p, 'member.invite', r.tenant_id ? { tenant: r.tenant_id } : {}))) return
  throw new ApiError(
    403,
    'forbidden',
    'this user belongs to another tenant (or the installation) that you do not administer: they join this tenant through ' +
      'its single sign-on, or an administrator of each of their tenants (or a system admin) adds them',
  )
}

export function memberRoutes(app: FastifyInstance, s: Services): void {
  app.get<{ Params: { tenantId: string } }>(
    '/v1/tenants/:tenantId/members',
    { schema: spec({ summary: "A tenant's members", tags: ['members'], params: idParams('tenantId'), response: { 200: list(memberSchema) } }) },
    async (request) => {
      authorize(request, s, 'member.read', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const { rows } = await s.db.query(
        `SELECT u.id, u.email, u.display_name, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.tenant_id = $1 ORDER BY lower(u.email)`,
        [request.params.tenantId],
      )
      return { items: rows.map((r) => ({ userId: r.id, email: r.email, displayName: r.display_name, createdAt: r.created_at.toISOString() })) }
    },
  )

  app.post<{ Params: { tenantId: string }; Body: { email: string; displayName?: string; role?: string; scope?: ScopeRef } }>(
    '/v1/tenants/:tenantId/members',
    {
      schema: spec({
        summary: 'Add a user to a tenant by e-mail, optionally with a first role binding (all or nothing)',
        tags: ['members'],
        params: idParams('tenantId'),
        body: body(
          {
            email: { type: 'string', format: 'email', maxLength: 320 },
            displayName: { type: 'string', maxLength: 200 },
            role: { type: 'string' },
            scope: scopeSchema,
          },
          ['email'],
        ),
        response: { 201: obj({ member: memberSchema, binding: bindingSchema }, ['member']) },
      }),
    },
    async (request, reply) => {
      const tenantId = request.params.tenantId
      const p = authorize(request, s, 'member.invite', await locateTenant(s.db, tenantId), 'tenant')
      const b = request.body
      if ((b.role === undefined) !== (b.scope === undefined)) throw invalid('role and scope go together')
      const result = await s.db.tx(async (c) => {
        // the tenant stays live until the membership exists (a concurrent DELETE of the tenant waits, then removes it)
        if (!(await locateTenant(c, tenantId, true))) throw notFound('tenant')
        const { rows } = await c.query(
          `INSERT INTO users (email, display_name) VALUES ($1, $2)
           ON CONFLICT (lower(email)) DO UPDATE SET email = users.email RETURNING id, email, display_name, (xmax = 0) AS created`,
          [b.email, b.displayName ?? ''],
        )
        const user = rows[0]
        await assertMayAdopt(s, c, p, user.id, tenantId)
        const m = await c.query('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING created_at', [tenantId, user.id])
        if (!m.rowCount) throw conflict('already a member of this tenant')
        if (user.created) {
          await audit(s, c, request, {
            kind: 'user.create',
            scope: { tenant: tenantId },
            target: { type: 'user', id: user.id },
            details: { email_domain: String(user.email).split('@').pop(), source: 'invite' },
          })
        }
        await audit(s, c, request, {
          kind: 'membership.create',
          scope: { tenant: tenantId },
          target: { type: 'membership', id: user.id },
          details: { user: user.id },
        })
        const member = { userId: user.id, email: user.email, displayName: user.display_name, createdAt: m.rows[0].created_at.toISOString() }
        if (!b.role || !b.scope) return { member }
        const binding = await bind(s, request, c, user.id, b.role, b.scope)
        if (binding.tenant_id !== tenantId) throw invalid('scope: must lie inside this tenant')
        return { member, binding: toBindingView(binding) }
      })
      reply.status(201)
      return result
    },
  )

  app.delete<{ Params: { tenantId: string; userId: string } }>(
    '/v1/tenants/:tenantId/members/:userId',
    {
      schema: spec({
        summary: 'Remove a member and every binding they hold in the tenant',
        tags: ['members'],
        params: idParams('tenantId', 'userId'),
        response: { 204: { type: 'null' } },
      }),
    },
    async (request, reply) => {
      const { tenantId, userId } = request.params
      authorize(request, s, 'member.remove', await locateTenant(s.db, tenantId), 'tenant')
      await s.db.tx(async (c) => {
        const { rowCount } = await c.query('DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId])
        if (!rowCount) throw notFound('member')
        const removed = await c.query('DELETE FROM role_bindings WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId])
        await audit(s, c, request, {
          kind: 'membership.delete',
          scope: { tenant: tenantId },
          target: { type: 'membership', id: userId },
          details: { user: userId, bindings_removed: removed.rowCount ?? 0 },
        })
        // their tokens for this tenant end; those for their other tenants carry nothing of it
        await s.revocations.add(c, 'user', userId, 'member removed', { tenantId })
      })
      return reply.status(204).send()
    },
  )

  app.get<{ Querystring: ScopeRef }>(
    '/v1/rolebindings',
    {
      schema: spec({
        summary: 'Role bindings at one scope',
        tags: ['rolebindings'],
        querystring: scopeSchema,
        response: { 200: list(bindingSchema) },
      }),
    },
    async (request) => {
      const scope = request.query
      const target = await grantTarget(s.db, scope)
      authorize(request, s, 'rolebinding.read', target, 'scope')
      const col = { system: null, tenant: 'tenant_id', team: 'team_id', project: 'project_id' }[scope.kind]
      const { rows } = await s.db.query(
        `SELECT * FROM role_bindings WHERE scope_kind = $1 ${col ? `AND ${col} = $2` : ''} ORDER BY created_at`,
        col ? [scope.kind, scope.id] : [scope.kind],
      )
      return { items: rows.map(toBindingView) }
    },
  )

  app.post<{ Body: { userId: string; role: string; scope: ScopeRef } }>(
    '/v1/rolebindings',
    {
      schema: spec({
        summary: 'Bind a role to a user at a scope',
        tags: ['rolebindings'],
        body: body({ userId: uuid, role: { type: 'string', maxLength: 64 }, scope: scopeSchema }, ['userId', 'role', 'scope']),
        response: { 201: bindingSchema },
      }),
    },
    async (request, reply) => {
      const row = await s.db.tx((c) => bind(s, request, c, request.body.userId, request.body.role, request.body.scope))
      reply.status(201)
      return toBindingView(row)
    },
  )

  app.delete<{ Params: { bindingId: string } }>(
    '/v1/rolebindings/:bindingId',
    {
      schema: spec({ summary: 'Remove a role binding', tags: ['rolebindings'], params: idParams('bindingId'), response: { 204: { type: 'null' } } }),
    },
    async (request, reply) => {
      const { rows } = await s.db.query('SELECT * FROM role_bindings WHERE id = $1', [request.params.bindingId])
      const row = rows[0]
      const target = row ? await locate(s.db, row.scope_kind, row.project_id ?? row.team_id ?? row.tenant_id) : undefined
      const p = authorize(request, s, 'rolebinding.delete', target, 'role binding')
      if (!canGrant(s.policy, p, row.role, target!.path)) throw forbidden(`removing ${row.role}`)
      await s.db.tx(async (c) => {
        if (row.role === 'system_admin') {
          // Never leave the installation without an operator: the rows are locked, so two removals cannot race.
          const admins = await c.query("SELECT id FROM role_bindings WHERE role = 'system_admin' FOR UPDATE")
          if (admins.rows.length <= 1) throw conflict('this is the last system_admin binding; bind another system admin before removing it')
        }
        await c.query('DELETE FROM role_bindings WHERE id = $1', [row.id])
        await audit(s, c, request, {
          kind: 'role_binding.delete',
          scope: target!.path,
          target: { type: 'role_binding', id: row.id },
          details: { principal: row.user_id, role: row.role },
        })
        // a binding in a tenant is in that tenant's tokens only; a system-wide one is in all of them
        await s.revocations.add(c, 'user', row.user_id, 'role binding removed', row.tenant_id ? { tenantId: row.tenant_id } : {})
      })
      return reply.status(204).send()
    },
  )
}
