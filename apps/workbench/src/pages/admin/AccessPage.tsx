/**
 * Role bindings at one scope of the selection (system, tenant, team or project): list, bind a role to a
 * member, remove. Only roles the caller may grant there (`mayGrant` of a binding on or above it) are offered,
 * and only bindings of such roles can be removed.
 */
import { useState } from 'react'
import { useCan, useControl } from '../../app/control'
import { ActionResult, ControlErrorNotice, FormField, Section, useAction } from '../../components/admin'
import { EmptyState, Loading, PageHeader } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import { can, grantableRoles, POLICY, scopeRef } from '../../lib/control/permissions'
import type { Member, RoleBinding } from '../../lib/control/types'
import { formatDateTime, shortId } from '../../lib/format'
import { scopeChoices } from './scope'

export default function AccessPage() {
  const { cp, me, selection } = useControl()
  const showSystem = useCan('rolebinding.read', {})
  const choices = scopeChoices(selection, showSystem)
  const [key, setKey] = useState<string | undefined>(undefined)
  const scope = choices.find((c) => c.key === key) ?? choices[choices.length - 1]
  const path = scope?.path
  const mayRead = path !== undefined && can(POLICY, me.data, 'rolebinding.read', path)
  const mayCreate = path !== undefined && can(POLICY, me.data, 'rolebinding.create', path)
  const mayDelete = path !== undefined && can(POLICY, me.data, 'rolebinding.delete', path)
  const grantable = path ? grantableRoles(POLICY, me.data, path) : []
  const tenantId = selection.tenant?.id
  const mayReadMembers = useCan('member.read', tenantId ? { tenant: tenantId } : undefined)

  const bindings = useResource(() => cp.bindings(scopeRef(path!)), [cp, scope?.key, JSON.stringify(path)], { enabled: mayRead })
  const members = useResource(() => cp.members(tenantId!), [cp, tenantId], { enabled: Boolean(tenantId) && mayReadMembers })
  const byId = new Map<string, Member>((members.data?.items ?? []).map((m) => [m.userId, m]))
  const who = (b: RoleBinding) => byId.get(b.userId)?.email ?? (b.userId === me.data?.id ? 'you' : `user ${shortId(b.userId)}`)

  const create = useAction()
  const removal = useAction()
  const [userId, setUserId] = useState('')
  const [role, setRole] = useState('')
  const chosenRole = grantable.includes(role) ? role : (grantable[0] ?? '')
  const items = bindings.data?.items ?? []

  return (
    <div className="page">
      <PageHeader title="Role bindings" description="Who holds which role, at which scope." />
      <div className="admin-form__row admin-form__row--single">
        <FormField label="Scope" htmlFor="binding-scope">
          <select id="binding-scope" className="select" value={scope?.key ?? ''} onChange={(e) => setKey(e.target.value)}>
            {choices.map((c) => (
              <option key={c.key} value={c.key}>
                {c.label}
              </option>
            ))}
          </select>
        </FormField>
      </div>
      {!scope ? <EmptyState title="Nothing selected">Pick a tenant, team or project in the switcher above.</EmptyState> : null}
      {scope && !mayRead ? <EmptyState title="Not visible to you">Your role bindings do not include reading the bindings at this scope.</EmptyState> : null}
      {scope && mayRead ? (
        <Section title={`Bindings at ${scope.label}`}>
          {bindings.error ? <ControlErrorNotice error={bindings.error} what="role bindings" /> : null}
          {bindings.loading && !bindings.data ? <Loading /> : null}
          {bindings.data && !items.length ? <EmptyState title="No bindings at this scope" /> : null}
          <ActionResult action={removal} />
          {items.length ? (
            <div className="table-scroll">
              <table className="table table--cards" aria-label="Role bindings">
                <thead>
                  <tr>
                    <th>User</th>
                    <th>Role</th>
                    <th>Source</th>
                    <th>Since</th>
                    {mayDelete ? (
                      <th>
                        <span className="sr-only">Remove</span>
                      </th>
                    ) : null}
                  </tr>
                </thead>
                <tbody>
                  {items.map((b) => (
                    <tr key={b.id}>
                      <th data-label="User" className="break">
                        {who(b)}
                      </th>
                      <td data-label="Role">
                        <code>{b.role}</code>
                      </td>
                      <td data-label="Source">{b.source.startsWith('idp:') ? 'identity provider' : b.source}</td>
                      <td data-label="Since">{formatDateTime(Date.parse(b.createdAt))}</td>
                      {mayDelete ? (
                        <td>
                          {grantable.includes(b.role) ? (
                            <button
                              type="button"
                              className="btn btn--small btn--danger"
                              data-edit
                              disabled={removal.busy}
                              onClick={async () => {
                                await removal.run(() => cp.deleteBinding(b.id), `${b.role} of ${who(b)} removed.`)
                                await bindings.reload()
                              }}
                            >
                              Remove
                            </button>
                          ) : null}
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </Section>
      ) : null}
      {scope && mayCreate && grantable.length ? (
        <Section title="Bind a role">
          <form
            className="admin-form"
            data-edit
            onSubmit={async (e) => {
              e.preventDefault()
              const ok = await create.run(
                () => cp.createBinding({ userId: userId.trim(), role: chosenRole, scope: scopeRef(path!) }),
                `${chosenRole} bound at ${scope.label}.`,
              )
              if (ok) await bindings.reload()
            }}
          >
            <div className="admin-form__row">
              <FormField label="Member" htmlFor="binding-user">
                {members.data?.items.length ? (
                  <select id="binding-user" className="select" required value={userId} onChange={(e) => setUserId(e.target.value)}>
                    <option value="">choose…</option>
                    {members.data.items.map((m) => (
                      <option key={m.userId} value={m.userId}>
                        {m.email}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    id="binding-user"
                    className="input input--mono"
                    required
                    placeholder="user id"
                    value={userId}
                    onChange={(e) => setUserId(e.target.value)}
                  />
                )}
              </FormField>
              <FormField label="Role" htmlFor="binding-role">
                <select id="binding-role" className="select" value={chosenRole} onChange={(e) => setRole(e.target.value)}>
                  {grantable.map((r) => (
                    <option key={r} value={r} title={POLICY.roles[r]?.description}>
                      {r}
                    </option>
                  ))}
                </select>
              </FormField>
            </div>
            <p className="small muted">{POLICY.roles[chosenRole]?.description}</p>
            <div className="admin-form__actions">
              <button type="submit" className="btn btn--primary" disabled={create.busy}>
                Bind role
              </button>
            </div>
            <ActionResult action={create} />
          </form>
        </Section>
      ) : null}
    </div>
  )
}
