/** Types of the permission matrix (`policy/permissions.json`) and of the principals it is evaluated for. */

export type ScopeKind = 'system' | 'tenant' | 'team' | 'project'
export type Relation = 'self' | 'ancestor' | 'descendant'

export const SCOPE_KINDS: readonly ScopeKind[] = ['system', 'tenant', 'team', 'project']
export const RELATIONS: readonly Relation[] = ['self', 'ancestor', 'descendant']

/**
 * A place in the hierarchy system > tenant > team > project. The kind is the deepest id present:
 * `{}` is the system, `{ tenant }` a tenant, `{ tenant, team }` a team, `{ tenant, team, project }` a project.
 */
export interface ScopePath {
  tenant?: string
  team?: string
  project?: string
}

export interface RoleDef {
  description: string
  bindableAt: ScopeKind[]
  mayGrant: string[]
}

export interface ActionDef {
  description: string
  targets: ScopeKind[]
  plane: 'control' | 'runtime'
  diagnostic?: boolean
}

export interface Policy {
  version: 1
  description?: string
  scopes: ScopeKind[]
  relations: Record<Relation, string>
  roles: Record<string, RoleDef>
  actions: Record<string, ActionDef>
  grants: Record<string, Record<string, Relation[]>>
  credentials: {
    apiKey: { roles: string[]; description?: string }
    workerToken: { actions: string[]; description?: string }
  }
}

/** One role bound at one scope. */
export interface Binding {
  role: string
  scope: ScopePath
}

/** Who is asking: a user (via an access token), a project API key, or a worker token. */
export interface Principal {
  kind: 'user' | 'api_key' | 'worker'
  /** user id or credential id */
  id: string
  /** set when the credential is confined to one tenant: nothing outside it is reachable */
  tenantId?: string
  region?: string
  bindings: Binding[]
  /** when set, only these actions (an API key narrowed to a list, a worker token) */
  actions?: string[]
  /** access tokens only */
  sessionId?: string
  tokenId?: string
}

export function scopeKind(path: ScopePath): ScopeKind {
  if (path.project !== undefined) return 'project'
  if (path.team !== undefined) return 'team'
  if (path.tenant !== undefined) return 'tenant'
  return 'system'
}
