/**
 * A provider's IdP-group → role mappings: the list, and the editor (group, optional team and project, a role
 * the caller may grant at that scope), saved all at once (`PUT /v1/idps/{id}/group-mappings`).
 */
import { useState } from 'react'
import { useControl } from '../../app/control'
import { ActionResult, FormField, useAction } from '../../components/admin'
import { grantableRoles, POLICY } from '../../lib/control/permissions'
import { type MappingDraft, mappingDrafts, mappingScope, newMapping, scopeLabel, toMappings } from '../../lib/control/idps'
import type { GroupMapping, IdentityProvider, Project, Team } from '../../lib/control/types'

export interface Tree {
  teams: Team[]
  projects: Project[]
}

export function MappingsTable({ p, tenantName, tree }: { p: IdentityProvider; tenantName: string; tree: Tree | undefined }) {
  const items = p.mappings ?? []
  if (!items.length) return <p className="muted small">No group mappings: people signing in through it become members with no role.</p>
  return (
    <div className="table-scroll">
      <table className="table table--cards" aria-label={`Group mappings of ${p.name}`}>
        <thead>
          <tr>
            <th>IdP group</th>
            <th>Role</th>
            <th>At</th>
          </tr>
        </thead>
        <tbody>
          {items.map((m, i) => (
            <tr key={`${m.group}-${m.role}-${i}`}>
              <th data-label="IdP group" className="break">
                {m.group}
              </th>
              <td data-label="Role">
                <code>{m.role}</code>
              </td>
              <td data-label="At" className="break">
                {scopeLabel(m, tenantName, tree?.teams, tree?.projects)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

export function MappingsEditor({
  p,
  tree,
  onSave,
  onCancel,
}: {
  p: IdentityProvider
  tree: Tree | undefined
  onSave: (m: GroupMapping[]) => Promise<unknown>
  onCancel: () => void
}) {
  const { me } = useControl()
  const action = useAction()
  const projects = tree?.projects ?? []
  const [rows, setRows] = useState<MappingDraft[]>(() => mappingDrafts(p, projects))
  const rolesAt = (r: MappingDraft) => grantableRoles(POLICY, me.data, mappingScope(r, p.tenantId, projects))
  const update = (key: number, patch: Partial<MappingDraft>) =>
    setRows((rs) =>
      rs.map((r) => {
        if (r.key !== key) return r
        const next = { ...r, ...patch }
        if (patch.teamId !== undefined && patch.teamId !== r.teamId) next.projectId = ''
        // a new scope where the role cannot be granted drops it: the admin picks again
        if ((patch.teamId !== undefined || patch.projectId !== undefined) && !rolesAt(next).includes(next.role)) next.role = ''
        return next
      }),
    )
  const id = (r: MappingDraft, f: string) => `map-${p.id}-${r.key}-${f}`

  return (
    <form
      className="admin-form admin-form--boxed"
      aria-label={`Edit group mappings of ${p.name}`}
      data-edit
      onSubmit={async (e) => {
        e.preventDefault()
        await action.run(() => onSave(toMappings(rows)))
      }}
    >
      {rows.length ? null : <p className="muted small">No mappings. Add one per IdP group that should receive a role.</p>}
      {rows.map((r, i) => {
        const grantable = rolesAt(r)
        // a role set by someone who may grant more stays visible (the server decides whether this caller may keep it)
        const roles = r.role && !grantable.includes(r.role) ? [...grantable, r.role] : grantable
        const teamProjects = projects.filter((x) => x.teamId === r.teamId)
        return (
          <fieldset key={r.key} className="mapping">
            <legend className="label">Mapping {i + 1}</legend>
            <div className="admin-form__row">
              <FormField label="IdP group" htmlFor={id(r, 'group')}>
                <input
                  id={id(r, 'group')}
                  className="input input--mono"
                  required
                  maxLength={300}
                  value={r.group}
                  onChange={(e) => update(r.key, { group: e.target.value })}
                />
              </FormField>
              <FormField label="Team" htmlFor={id(r, 'team')}>
                <select id={id(r, 'team')} className="select" value={r.teamId} onChange={(e) => update(r.key, { teamId: e.target.value })}>
                  <option value="">whole tenant</option>
                  {(tree?.teams ?? []).map((t) => (
                    <option key={t.id} value={t.id}>
                      {t.name}
                    </option>
                  ))}
                </select>
              </FormField>
              <FormField label="Project" htmlFor={id(r, 'project')}>
                <select
                  id={id(r, 'project')}
                  className="select"
                  value={r.projectId}
                  disabled={!r.teamId}
                  onChange={(e) => update(r.key, { projectId: e.target.value })}
                >
                  <option value="">{r.teamId ? 'whole team' : '—'}</option>
                  {teamProjects.map((x) => (
                    <option key={x.id} value={x.id}>
                      {x.name}
                    </option>
                  ))}
                </select>
              </FormField>
              <FormField label="Role" htmlFor={id(r, 'role')}>
                <select id={id(r, 'role')} className="select" required value={r.role} onChange={(e) => update(r.key, { role: e.target.value })}>
                  <option value="">choose…</option>
                  {roles.map((role) => (
                    <option key={role} value={role} title={POLICY.roles[role]?.description}>
                      {role}
                    </option>
                  ))}
                </select>
              </FormField>
            </div>
            <div className="admin-form__actions">
              <button type="button" className="btn btn--small btn--danger" onClick={() => setRows((rs) => rs.filter((x) => x.key !== r.key))}>
                Remove mapping {i + 1}
              </button>
            </div>
          </fieldset>
        )
      })}
      <div className="admin-form__actions">
        <button type="button" className="btn" onClick={() => setRows((rs) => [...rs, newMapping()])}>
          Add a mapping
        </button>
        <button type="submit" className="btn btn--primary" disabled={action.busy}>
          {action.busy ? 'Saving…' : 'Save mappings'}
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <p className="small muted">At every sign-in through this provider, a person's roles from it are replaced by the mappings of their groups.</p>
      <ActionResult action={action} />
    </form>
  )
}
