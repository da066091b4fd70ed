/** Members of the selected tenant: invite by e-mail (optionally with a first role), remove with all their bindings. */
import { useState } from 'react'
import { useCan, useControl, useScopes } from '../../app/control'
import { ActionResult, ControlErrorNotice, FormField, NeedSelection, Section, useAction } from '../../components/admin'
import { ConfirmDialog } from '../../components/ConfirmDialog'
import { EmptyState, Loading, PageHeader } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import { grantableRoles, POLICY, scopeRef } from '../../lib/control/permissions'
import type { Member } from '../../lib/control/types'
import { formatDateTime } from '../../lib/format'
import { scopeChoices } from './scope'

function InviteForm({ tenantId, onDone }: { tenantId: string; onDone: () => Promise<void> }) {
  const { cp, me, selection } = useControl()
  const action = useAction()
  const [email, setEmail] = useState('')
  const [displayName, setDisplayName] = useState('')
  const choices = scopeChoices(selection, false)
  const [scopeKey, setScopeKey] = useState('project')
  const scope = choices.find((c) => c.key === scopeKey) ?? choices[0]
  const roles = scope ? grantableRoles(POLICY, me.data, scope.path) : []
  const [role, setRole] = useState('')
  const chosenRole = roles.includes(role) ? role : ''
  return (
    <form
      className="admin-form"
      data-edit
      onSubmit={async (e) => {
        e.preventDefault()
        const ok = await action.run(
          () =>
            cp.invite(tenantId, {
              email: email.trim(),
              ...(displayName.trim() ? { displayName: displayName.trim() } : {}),
              ...(chosenRole && scope ? { role: chosenRole, scope: scopeRef(scope.path) } : {}),
            }),
          `${email.trim()} was added${chosenRole ? ` as ${chosenRole}` : ''}.`,
        )
        if (ok) {
          setEmail('')
          setDisplayName('')
          await onDone()
        }
      }}
    >
      <div className="admin-form__row">
        <FormField label="E-mail" htmlFor="invite-email">
          <input id="invite-email" className="input" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </FormField>
        <FormField label="Name (optional)" htmlFor="invite-name">
          <input id="invite-name" className="input" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
        </FormField>
        <FormField label="Role (optional)" htmlFor="invite-role">
          <select id="invite-role" className="select" value={chosenRole} onChange={(e) => setRole(e.target.value)}>
            <option value="">no role yet</option>
            {roles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </FormField>
        <FormField label="At" htmlFor="invite-scope">
          <select id="invite-scope" className="select" value={scope?.key ?? ''} onChange={(e) => setScopeKey(e.target.value)}>
            {choices.map((c) => (
              <option key={c.key} value={c.key}>
                {c.label}
              </option>
            ))}
          </select>
        </FormField>
      </div>
      <p className="small muted">They sign in through the tenant's single sign-on with this e-mail address.</p>
      <div className="admin-form__actions">
        <button type="submit" className="btn btn--primary" disabled={action.busy}>
          {action.busy ? 'Adding…' : 'Add member'}
        </button>
      </div>
      <ActionResult action={action} />
    </form>
  )
}

export default function MembersPage() {
  const { cp, selection } = useControl()
  const scopes = useScopes()
  const tenant = selection.tenant
  const mayRead = useCan('member.read', scopes.tenant)
  const mayInvite = useCan('member.invite', scopes.tenant)
  const mayRemove = useCan('member.remove', scopes.tenant)
  const members = useResource(() => cp.members(tenant!.id), [cp, tenant?.id], { enabled: Boolean(tenant) && mayRead })
  const removal = useAction()
  const [removing, setRemoving] = useState<Member | undefined>(undefined)
  if (!tenant) return <NeedSelection what="tenant" />
  const items = members.data?.items ?? []
  return (
    <div className="page">
      <PageHeader title="Members" description={`People in ${tenant.name}.`} />
      {!mayRead ? (
        <EmptyState title="Members are not visible to you">Your role bindings do not include reading this tenant's members.</EmptyState>
      ) : (
        <Section title="Members">
          {members.error ? <ControlErrorNotice error={members.error} what="members" /> : null}
          {members.loading && !members.data ? <Loading /> : null}
          {members.data && !items.length ? <EmptyState title="No members yet" /> : null}
          <ActionResult action={removal} />
          {items.length ? (
            <div className="table-scroll">
              <table className="table table--cards" aria-label="Members">
                <thead>
                  <tr>
                    <th>E-mail</th>
                    <th>Name</th>
                    <th>Member since</th>
                    {mayRemove ? (
                      <th>
                        <span className="sr-only">Remove</span>
                      </th>
                    ) : null}
                  </tr>
                </thead>
                <tbody>
                  {items.map((m) => (
                    <tr key={m.userId}>
                      <th data-label="E-mail" className="break">
                        {m.email}
                      </th>
                      <td data-label="Name">{m.displayName || '—'}</td>
                      <td data-label="Since">{formatDateTime(Date.parse(m.createdAt))}</td>
                      {mayRemove ? (
                        <td>
                          <button type="button" className="btn btn--small btn--danger" data-edit onClick={() => setRemoving(m)}>
                            Remove
                          </button>
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </Section>
      )}
      {mayInvite ? (
        <Section title="Add a member">
          <InviteForm tenantId={tenant.id} onDone={() => members.reload()} />
        </Section>
      ) : null}
      <ConfirmDialog
        open={removing !== undefined}
        title={`Remove ${removing?.email ?? ''}?`}
        confirmLabel="Remove"
        tone="danger"
        busy={removal.busy}
        onCancel={() => setRemoving(undefined)}
        onConfirm={async () => {
          const m = removing
          if (!m) return
          await removal.run(() => cp.removeMember(tenant.id, m.userId), `${m.email} was removed, with every role binding in ${tenant.name}.`)
          setRemoving(undefined)
          await members.reload()
        }}
      >
        They lose every role binding in {tenant.name}; their tokens stop working within seconds.
      </ConfirmDialog>
    </div>
  )
}
