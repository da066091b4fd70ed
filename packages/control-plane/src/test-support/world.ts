/**
 * The fixture world: tenant T1 (region eu) with teams A (projects A1, A2) and B (project B1); tenant T2
 * (region us) with team C (project C1). One user per role binding, each holding that binding only.
 */
import type { Harness } from './harness.js'
import type { ScopePath } from '../policy/types.js'

export interface Node {
  name: string
  kind: 'system' | 'tenant' | 'team' | 'project'
  id?: string
  path: ScopePath
  /** names of the nodes above, nearest last */
  ancestors: string[]
}

export interface Actor {
  name: string
  role: string
  at: string
  userId: string
  token: string
  refresh: string
}

export interface World {
  nodes: Record<string, Node>
  actors: Actor[]
  byName(name: string): Actor
}

export const ACTOR_BINDINGS: [string, string, string][] = [
  ['sys', 'system_admin', 'system'],
  ['t_admin', 'tenant_admin', 'T1'],
  ['t_viewer', 'tenant_viewer', 'T1'],
  ['team_admin', 'team_admin', 'A'],
  ['team_viewer', 'team_viewer', 'A'],
  ['p_admin', 'project_admin', 'A1'],
  ['p_editor', 'project_editor', 'A1'],
  ['p_viewer', 'project_viewer', 'A1'],
  ['auditor_sys', 'auditor', 'system'],
  ['auditor_t', 'auditor', 'T1'],
  ['support_sys', 'support', 'system'],
  ['support_t', 'support', 'T1'],
]

export async function seedWorld(h: Harness): Promise<World> {
  const nodes: Record<string, Node> = { system: { name: 'system', kind: 'system', path: {}, ancestors: [] } }
  const tenant = async (name: string, region: string) => {
    const [r] = await h.sql('INSERT INTO tenants (slug, name, region) VALUES ($1, $1, $2) RETURNING id', [name.toLowerCase() + '-co', region])
    await h.sql('INSERT INTO tenant_settings (tenant_id) VALUES ($1)', [r.id])
    nodes[name] = { name, kind: 'tenant', id: r.id, path: { tenant: r.id }, ancestors: ['system'] }
  }
  const team = async (name: string, parent: string) => {
    const t = nodes[parent]!
    const [r] = await h.sql('INSERT INTO teams (tenant_id, slug, name) VALUES ($1, $2, $2) RETURNING id', [t.id, name.toLowerCase() + '-team'])
    nodes[name] = { name, kind: 'team', id: r.id, path: { tenant: t.id!, team: r.id }, ancestors: ['system', parent] }
  }
  const project = async (name: string, parent: string) => {
    const t = nodes[parent]!
    const [r] = await h.sql('INSERT INTO projects (tenant_id, team_id, slug, name) VALUES ($1, $2, $3, $3) RETURNING id', [
      t.path.tenant,
      t.id,
      name.toLowerCase() + '-proj',
    ])
    await h.sql('INSERT INTO project_settings (project_id) VALUES ($1)', [r.id])
    nodes[name] = { name, kind: 'project', id: r.id, path: { ...t.path, project: r.id }, ancestors: [...t.ancestors, parent] }
  }
  await tenant('T1', 'eu')
  await tenant('T2', 'us')
  await team('A', 'T1')
  await team('B', 'T1')
  await team('C', 'T2')
  await project('A1', 'A')
  await project('A2', 'A')
  await project('B1', 'B')
  await project('C1', 'C')

  const actors: Actor[] = []
  for (const [name, role, at] of ACTOR_BINDINGS) {
    const [u] = await h.sql('INSERT INTO users (email, display_name) VALUES ($1, $2) RETURNING id', [`${name}@example.test`, name])
    const node = nodes[at]!
    if (node.path.tenant) await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [node.path.tenant, u.id])
    await h.sql('INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id, team_id, project_id) VALUES ($1, $2, $3, $4, $5, $6)', [
      u.id,
      role,
      node.kind,
      node.path.tenant ?? null,
      node.path.team ?? null,
      node.path.project ?? null,
    ])
    const t = await h.login(u.id, node.path.tenant)
    actors.push({ name, role, at, userId: u.id, token: t.access, refresh: t.refresh })
  }
  return {
    nodes,
    actors,
    byName: (n) =>
      actors.find((a) => a.name === n) ??
      (() => {
        throw new Error(n)
      })(),
  }
}
