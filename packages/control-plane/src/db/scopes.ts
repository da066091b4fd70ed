/**
 * Reads of the hierarchy: the scope path (tenant, team, project ids) and region of a target, and bindings. A deleted
 * tenant, team or project (`deleted_at`) is not found, exactly like an id that never existed.
 *
 * `lock` (inside a transaction that writes something naming the target: a role binding, a group mapping, a
 * membership, an identity provider, a credential) holds the target's row FOR SHARE until commit: a concurrent
 * DELETE of it (which locks it FOR UPDATE) waits and then removes what was written, or the write waits for the
 * DELETE and finds nothing. Only the target's own row is locked: its parents cannot be deleted while it lives.
 */
import type { Queryable } from './pool.js'
import type { Binding, ScopePath } from '../policy/types.js'

export interface Located {
  path: ScopePath
  region: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export async function locateTenant(q: Queryable, id: string, lock = false): Promise<Located | undefined> {
  if (!UUID.test(id)) return undefined
  const { rows } = await q.query<{ region: string }>(`SELECT region FROM tenants WHERE id = $1 AND deleted_at IS NULL${lock ? ' FOR SHARE' : ''}`, [id])
  return rows[0] ? { path: { tenant: id }, region: rows[0].region } : undefined
}

export async function locateTeam(q: Queryable, id: string, lock = false): Promise<Located | undefined> {
  if (!UUID.test(id)) return undefined
  const { rows } = await q.query<{ tenant_id: string; region: string }>(
    `SELECT tm.tenant_id, t.region FROM teams tm JOIN tenants t ON t.id = tm.tenant_id
      WHERE tm.id = $1 AND tm.deleted_at IS NULL AND t.deleted_at IS NULL${lock ? ' FOR SHARE OF tm' : ''}`,
    [id],
  )
  const r = rows[0]
  return r ? { path: { tenant: r.tenant_id, team: id }, region: r.region } : undefined
}

export async function locateProject(q: Queryable, id: string, lock = false): Promise<Located | undefined> {
  if (!UUID.test(id)) return undefined
  const { rows } = await q.query<{ tenant_id: string; team_id: string; region: string }>(
    `SELECT p.tenant_id, p.team_id, t.region FROM projects p JOIN teams tm ON tm.id = p.team_id JOIN tenants t ON t.id = p.tenant_id
      WHERE p.id = $1 AND p.deleted_at IS NULL AND tm.deleted_at IS NULL AND t.deleted_at IS NULL${lock ? ' FOR SHARE OF p' : ''}`,
    [id],
  )
  const r = rows[0]
  return r ? { path: { tenant: r.tenant_id, team: r.team_id, project: id }, region: r.region } : undefined
}

export async function locate(q: Queryable, kind: 'system' | 'tenant' | 'team' | 'project', id?: string, lock = false) {
  if (kind === 'system') return { path: {}, region: '' } as Located
  if (!id) return undefined
  return kind === 'tenant' ? locateTenant(q, id, lock) : kind === 'team' ? locateTeam(q, id, lock) : locateProject(q, id, lock)
}

interface BindingRow {
  role: string
  tenant_id: string | null
  team_id: string | null
  project_id: string | null
}

export function toBinding(r: BindingRow): Binding {
  const scope: ScopePath = {}
  if (r.tenant_id) scope.tenant = r.tenant_id
  if (r.team_id) scope.team = r.team_id
  if (r.project_id) scope.project = r.project_id
  return { role: r.role, scope }
}

/** The user's system-wide bindings plus, when a tenant is given, those inside it (deduplicated). */
export async function loadBindings(q: Queryable, userId: string, tenantId?: string): Promise<Binding[]> {
  const { rows } = await q.query<BindingRow>(
    `SELECT DISTINCT role, tenant_id, team_id, project_id FROM role_bindings
      WHERE user_id = $1 AND (scope_kind = 'system' OR tenant_id = $2) ORDER BY role`,
    [userId, tenantId ?? null],
  )
  return rows.map(toBinding)
}
