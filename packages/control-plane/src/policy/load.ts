/**
 * Loads `policy/permissions.json`, validates it against `policy/permissions.schema.json` and checks the
 * cross-references the schema cannot express. Fails fast with a message naming the file and the entry.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { Policy, Relation, ScopeKind } from './types.js'

const DEPTH: Record<ScopeKind, number> = { system: 0, tenant: 1, team: 2, project: 3 }

/** Finds `policy/permissions.json` by walking up from this module (the repository root holds it). */
export function findPolicyFile(start = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(start)
  for (;;) {
    const candidate = join(dir, 'policy', 'permissions.json')
    if (existsSync(candidate)) return candidate
    const parent = dirname(dir)
    if (parent === dir) throw new Error('policy/permissions.json not found above ' + start + '; set CFP_POLICY_FILE')
    dir = parent
  }
}

export function loadPolicy(file = process.env.CFP_POLICY_FILE || findPolicyFile()): Policy {
  // Null-prototype objects: request input indexes these maps (roles, actions, grants), and a plain object
  // would answer `constructor` or `toString` with Object.prototype's members instead of undefined.
  const raw = JSON.parse(readFileSync(file, 'utf8'), (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.assign(Object.create(null), value) : value,
  ) as unknown
  const schemaFile = join(dirname(file), 'permissions.schema.json')
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as object
  const ajv = new Ajv2020({ allErrors: true, strict: false })
  const validate = ajv.compile(schema)
  if (!validate(raw)) {
    const msg = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ')
    throw new Error(`${file}: does not match permissions.schema.json: ${msg}`)
  }
  const policy = raw as Policy
  const problems = checkPolicy(policy)
  if (problems.length > 0) throw new Error(`${file}: ${problems.join('; ')}`)
  return policy
}

/** Cross-reference checks; returns the problems found (empty when the matrix is consistent). */
export function checkPolicy(policy: Policy): string[] {
  const problems: string[] = []
  const roles = Object.keys(policy.roles)
  for (const [role, def] of Object.entries(policy.roles)) {
    for (const g of def.mayGrant) if (!roles.includes(g)) problems.push(`roles.${role}.mayGrant names unknown role ${g}`)
  }
  for (const r of policy.credentials.apiKey.roles) {
    if (!policy.roles[r]?.bindableAt.includes('project')) problems.push(`credentials.apiKey.roles: ${r} is not a project role`)
  }
  for (const a of policy.credentials.workerToken.actions) {
    if (!policy.actions[a]) problems.push(`credentials.workerToken.actions names unknown action ${a}`)
  }
  for (const [role, actions] of Object.entries(policy.grants)) {
    const def = policy.roles[role]
    if (!def) {
      problems.push(`grants.${role}: unknown role`)
      continue
    }
    for (const [action, rels] of Object.entries(actions)) {
      const adef = policy.actions[action]
      if (!adef) {
        problems.push(`grants.${role}.${action}: unknown action`)
        continue
      }
      for (const rel of rels) {
        if (!reachable(def.bindableAt, adef.targets, rel)) {
          problems.push(`grants.${role}.${action}: relation ${rel} cannot occur (bound at ${def.bindableAt}, targets ${adef.targets})`)
        }
      }
    }
  }
  for (const role of roles) if (!policy.grants[role]) problems.push(`grants: role ${role} has no entry`)
  return problems
}

function reachable(bindable: ScopeKind[], targets: ScopeKind[], rel: Relation): boolean {
  return bindable.some((b) => targets.some((t) => (rel === 'self' ? DEPTH[b] === DEPTH[t] : rel === 'ancestor' ? DEPTH[b] < DEPTH[t] : DEPTH[b] > DEPTH[t])))
}
