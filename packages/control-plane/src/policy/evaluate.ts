/**
 * The permission evaluator: `can(policy, principal, action, target)` walks the hierarchy
 * system > tenant > team > project. A binding grants an action on a target when the role's grant for that
 * action lists the relation between the binding's scope and the target (`self`, `ancestor`, `descendant`).
 * Unrelated scopes (another tenant, a sibling team or project) never grant anything.
 */
import type { Binding, Policy, Principal, Relation, ScopePath } from './types.js'
import { scopeKind } from './types.js'

const LEVELS = ['tenant', 'team', 'project'] as const

function depth(path: ScopePath): number {
  return { system: 0, tenant: 1, team: 2, project: 3 }[scopeKind(path)]
}

/** How a binding's scope relates to a target, or null when they are on different branches. */
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

/** True when the binding grants the action on the target. */
export function bindingAllows(policy: Policy, binding: Binding, action: string, target: ScopePath): boolean {
  const rel = relation(binding.scope, target)
  if (rel === null) return false
  return policy.grants[binding.role]?.[action]?.includes(rel) ?? false
}

/** May the principal perform the action on the target? */
export function can(policy: Policy, principal: Principal, action: string, target: ScopePath): boolean {
  const def = policy.actions[action]
  if (!def || !def.targets.includes(scopeKind(target))) return false
  if (principal.tenantId !== undefined && target.tenant !== undefined && target.tenant !== principal.tenantId) {
    return false
  }
  if (principal.actions && !principal.actions.includes(action)) return false
  if (principal.kind === 'worker') return policy.credentials.workerToken.actions.includes(action) && isOwnProject(principal, target)
  return principal.bindings.some((b) => bindingAllows(policy, b, action, target))
}

function isOwnProject(principal: Principal, target: ScopePath): boolean {
  return principal.bindings.some((b) => relation(b.scope, target) === 'self')
}

/** Does any binding of the principal touch the target at all (so it may learn that the target exists)? */
export function isRelated(principal: Principal, target: ScopePath): boolean {
  if (principal.tenantId !== undefined && target.tenant !== undefined && target.tenant !== principal.tenantId) {
    return false
  }
  return principal.bindings.some((b) => relation(b.scope, target) !== null)
}

/**
 * May the principal grant `role` at `scope`? It needs a binding on the scope or above it whose role lists
 * `role` in `mayGrant`, and the role must be bindable at that kind of scope. (The caller checks
 * `rolebinding.create` separately.)
 */
export function canGrant(policy: Policy, principal: Principal, role: string, scope: ScopePath): boolean {
  const def = policy.roles[role]
  if (!def || !def.bindableAt.includes(scopeKind(scope))) return false
  if (principal.kind !== 'user') return false
  if (principal.tenantId !== undefined && scope.tenant !== undefined && scope.tenant !== principal.tenantId) return false
  return principal.bindings.some((b) => {
    const rel = relation(b.scope, scope)
    return (rel === 'self' || rel === 'ancestor') && (policy.roles[b.role]?.mayGrant.includes(role) ?? false)
  })
}

/** Every action a role allows on a target for a given relation (for docs and the runtime's own checks). */
export function actionsFor(policy: Policy, role: string, rel: Relation): string[] {
  return Object.entries(policy.grants[role] ?? {})
    .filter(([, rels]) => rels.includes(rel))
    .map(([action]) => action)
}
