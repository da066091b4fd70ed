/** The scopes of the current selection, as choices of a select (role bindings, invitations). */
import type { Selection } from '../../app/control'
import type { ScopePath } from '../../lib/control/types'

export interface ScopeChoice {
  key: string
  label: string
  path: ScopePath
}

export function scopeChoices(s: Selection, withSystem: boolean): ScopeChoice[] {
  const out: ScopeChoice[] = []
  if (withSystem) out.push({ key: 'system', label: 'System (whole installation)', path: {} })
  if (s.tenant) out.push({ key: 'tenant', label: `Tenant ${s.tenant.name}`, path: { tenant: s.tenant.id } })
  if (s.team) out.push({ key: 'team', label: `Team ${s.team.name}`, path: { tenant: s.team.tenantId, team: s.team.id } })
  if (s.project)
    out.push({ key: 'project', label: `Project ${s.project.name}`, path: { tenant: s.project.tenantId, team: s.project.teamId, project: s.project.id } })
  return out
}
