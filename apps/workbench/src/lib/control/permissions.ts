/**
 * The permission matrix (`policy/permissions.json`, the same file the control plane and the runtime read)
 * evaluated in the browser for the signed-in user's bindings (`GET /v1/me`), so pages offer only what the
 * caller may do: a viewer sees no edit controls. The server enforces regardless; this mirrors
 * packages/control-plane/src/policy/evaluate.ts.
 */
import matrix from '../../../../../policy/permissions.json'
import type { Binding, Me, ScopeKind, ScopePath, ScopeRef } from './types'

export type Relation = 'self' | 'ancestor' | 'descendant'

export interface Policy {
  roles: Record<string, { description: string; bindableAt: string[]; mayGrant: string[] }>
  actions: Record<string, { description: string; targets: string[]; plane: string }>
  grants: Record<string, Record<string, string[]>>
  credentials: { apiKey: { roles: string[] }; workerToken: { actions: string[] } }
}

export const POLICY = matrix as unknown as Policy

const LEVELS = ['tenant', 'team', 'project'] as const

export function scopeKind(path: ScopePath): ScopeKind {
  if (path.project !== undefined) return 'project'
  if (path.team !== undefined) return 'team'
  if (path.tenant !== undefined) return 'tenant'
  return 'system'
}

const depth = (p: ScopePath) => ({ system: 0, tenant: 1, team: 2, project: 3 })[scopeKind(p)]

/** How a binding's scope relates to a target, or null on another branch. */
export function relation(binding: ScopePath, target: ScopePath): Relation | null {
  const b = depth(binding)
  const t = depth(target)
  for (let i = 0; i < Math.min(b, t); i++) {
    const level = LEVELS[i]!
    if (binding[level] !== target[level]) return null
  }
  if (b === t) return 'self'
  return b < t ? 'ancestor' : 'descendant'
}

function outsideTenant(me: Me, target: ScopePath): boolean {
  return me.tenantId !== undefined && target.tenant !== undefined && target.tenant !== me.tenantId
}

/** May the caller perform the action on the target? */
export function can(policy: Policy, me: Me | undefined, action: string, target: ScopePath): boolean {
  if (!me) return false
  const def = policy.actions[action]
  if (!def?.targets.includes(scopeKind(target))) return false
  if (outsideTenant(me, target)) return false
  if (me.actions && !me.actions.includes(action)) return false
  if (me.kind === 'worker') return false
  return me.bindings.some((b: Binding) => {
    const rel = relation(b.scope, target)
    return rel !== null && (policy.grants[b.role]?.[action]?.includes(rel) ?? false)
  })
}

/** Roles the caller may bind at the scope: bindable there, and in `mayGrant` of a binding on or above it. */
export function grantableRoles(policy: Policy, me: Me | undefined, scope: ScopePath): string[] {
  if (me?.kind !== 'user' || outsideTenant(me, scope)) return []
  const kind = scopeKind(scope)
  return Object.keys(policy.roles).filter((role) => {
    if (!policy.roles[role]!.bindableAt.includes(kind)) return false
    return me.bindings.some((b) => {
      const rel = relation(b.scope, scope)
      return (rel === 'self' || rel === 'ancestor') && (policy.roles[b.role]?.mayGrant.includes(role) ?? false)
    })
  })
}

/** The scope reference of the API (`{kind, id}`) for a path. */
export function scopeRef(path: ScopePath): ScopeRef {
  const kind = scopeKind(path)
  return kind === 'system' ? { kind } : { kind, id: path[kind] }
}

/**
 * The runtime actions the caller may take on a project's runtime pages (emit, `dlq.replay`, `step.invoke`, …),
 * by the same matrix. `layout.write` (saving flow positions) is the local developer's and the operator's only.
 */
export function runtimeCan(policy: Policy, me: Me | undefined, project: ScopePath): (action: string) => boolean {
  return (action) => action !== 'layout.write' && policy.actions[action]?.plane === 'runtime' && can(policy, me, action, project)
}
