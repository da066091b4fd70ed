/**
 * Renders `docs/permissions.md` from the permission matrix, so the page cannot drift from the file:
 * `npm run docs:permissions -w packages/control-plane` rewrites it, and a test fails when it is stale.
 */
import type { Policy, Relation } from './types.js'

const ABBR: Record<Relation, string> = { self: 'S', ancestor: 'A', descendant: 'D' }

export function renderPermissionsDoc(policy: Policy): string {
  const roles = Object.keys(policy.roles)
  const out: string[] = []
  out.push('# Permissions')
  out.push('')
  out.push('<!-- Generated from policy/permissions.json by `npm run docs:permissions -w packages/control-plane`. Do not edit. -->')
  out.push('')
  out.push('The permission matrix lives in one file, [`policy/permissions.json`](../policy/permissions.json) (schema:')
  out.push('[`policy/permissions.schema.json`](../policy/permissions.schema.json)); the control plane (TypeScript) and the')
  out.push('runtime (Rust) both read it. A principal holds **role bindings**: a role bound at a scope of the hierarchy')
  out.push('system > tenant > team > project. A binding allows an action on a target when the role grants the action for the')
  out.push("**relation** between the binding's scope and the target:")
  out.push('')
  for (const [rel, text] of Object.entries(policy.relations)) out.push(`- **${ABBR[rel as Relation]}** — \`${rel}\`: ${text}.`)
  out.push('')
  out.push('A scope on another branch (another tenant, a sibling team or project) never grants anything. A token issued for')
  out.push('one tenant reaches nothing outside that tenant, whatever its bindings.')
  out.push('')
  out.push('The matrix is evaluated in three places: the control plane, the runtime and the workbench (which offers only the')
  out.push('controls the caller may use). All three must give the hand-written answers of the decision vectors in')
  out.push('[`policy/vectors/decisions.json`](../policy/vectors/decisions.json); each runs them in its own tests.')
  out.push('')
  out.push('## Roles')
  out.push('')
  out.push('| role | bound at | may grant | what it is for |')
  out.push('|---|---|---|---|')
  for (const [role, def] of Object.entries(policy.roles)) {
    const grants = def.mayGrant.length === roles.length ? 'every role' : def.mayGrant.join(', ') || '—'
    out.push(`| \`${role}\` | ${def.bindableAt.join(', ')} | ${grants} | ${def.description} |`)
  }
  out.push('')
  out.push('## Matrix')
  out.push('')
  out.push('Cells list the relations under which the role may perform the action: S self, A ancestor, D descendant;')
  out.push("empty = never. *diag* marks dev/diagnostic actions, which the runtime additionally requires the project's")
  out.push('diagnostics switch for (FR-4). Motia\'s plugin routes under `/__motia/` (runtime-api.md, "Motia plugins") are')
  out.push("diagnostic endpoints too: off unless the runtime's dev endpoints are on, then `state.read` / `state.write` for")
  out.push("`/__motia/state…` and `step.invoke` for a plugin's own routes (never an end user).")
  out.push('')
  for (const plane of ['control', 'runtime'] as const) {
    out.push(`### ${plane === 'control' ? 'Control plane' : 'Runtime'} actions`)
    out.push('')
    out.push(`| action | targets | ${roles.map((r) => `\`${r}\``).join(' | ')} |`)
    out.push(`|---|---|${roles.map(() => ':-:').join('|')}|`)
    for (const [action, def] of Object.entries(policy.actions)) {
      if (def.plane !== plane) continue
      const cells = roles.map((r) => (policy.grants[r]?.[action] ?? []).map((rel) => ABBR[rel]).join(' '))
      const name = `\`${action}\`${def.diagnostic ? ' *diag*' : ''}`
      out.push(`| ${name} | ${def.targets.join(', ')} | ${cells.join(' | ')} |`)
    }
    out.push('')
  }
  out.push('## Actions')
  out.push('')
  out.push('| action | plane | what it allows |')
  out.push('|---|---|---|')
  for (const [action, def] of Object.entries(policy.actions)) out.push(`| \`${action}\` | ${def.plane} | ${def.description} |`)
  out.push('')
  out.push('## Credentials that are not users')
  out.push('')
  out.push(`- **Project API keys** act as one of ${policy.credentials.apiKey.roles.map((r) => `\`${r}\``).join(', ')} on`)
  out.push('  their project only, optionally narrowed to a list of actions. ' + (policy.credentials.apiKey.description ?? ''))
  out.push(`- **Worker tokens** allow ${policy.credentials.workerToken.actions.map((a) => `\`${a}\``).join(', ')} on their`)
  out.push('  project only. ' + (policy.credentials.workerToken.description ?? ''))
  out.push('')
  return out.join('\n')
}
