/**
 * The selected project's API keys and worker tokens: create (the secret is shown once, here only), list
 * (metadata), revoke after a confirmation. An API key's role is limited to the roles the caller may grant.
 */
import { useState } from 'react'
import { useCan, useControl, useGrantableRoles, useScopes } from '../../app/control'
import { ActionResult, ControlErrorNotice, FormField, NeedSelection, Section, useAction } from '../../components/admin'
import { ConfirmDialog } from '../../components/ConfirmDialog'
import { CopyButton, Loading, PageHeader } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import { POLICY } from '../../lib/control/permissions'
import type { Credential, CredentialKind, Project } from '../../lib/control/types'
import { formatDateTime } from '../../lib/format'

const KINDS = {
  apikeys: { title: 'API keys', one: 'API key', action: 'apikey', days: 90 },
  'worker-tokens': { title: 'Worker tokens', one: 'worker token', action: 'workertoken', days: 365 },
} as const

const when = (iso: string | null) => (iso ? formatDateTime(Date.parse(iso)) : '—')

function status(c: Credential): string {
  if (c.revokedAt) return 'revoked'
  if (c.expiresAt && Date.parse(c.expiresAt) < Date.now()) return 'expired'
  return 'active'
}

function CredentialSection({ kind, project }: { kind: CredentialKind; project: Project }) {
  const { cp } = useControl()
  const k = KINDS[kind]
  const { project: path } = useScopes()
  const mayRead = useCan(`${k.action}.read`, path)
  const mayCreate = useCan(`${k.action}.create`, path)
  const mayRevoke = useCan(`${k.action}.revoke`, path)
  const roles = useGrantableRoles(path).filter((r) => POLICY.credentials.apiKey.roles.includes(r))
  const list = useResource(() => cp.credentials(kind, project.id), [cp, kind, project.id], { enabled: mayRead })
  const create = useAction()
  const revoke = useAction()
  const [name, setName] = useState('')
  const [role, setRole] = useState('')
  const [days, setDays] = useState<number>(k.days)
  const [secret, setSecret] = useState<{ name: string; token: string } | undefined>(undefined)
  const [revoking, setRevoking] = useState<Credential | undefined>(undefined)
  const chosenRole = roles.includes(role) ? role : (roles[roles.length - 1] ?? '')
  const items = list.data?.items ?? []
  const id = `cred-${kind}`

  if (!mayRead && !mayCreate) {
    return (
      <Section title={k.title}>
        <p className="muted">Your role bindings do not include reading this project's {k.title.toLowerCase()}.</p>
      </Section>
    )
  }
  return (
    <Section title={k.title}>
      {list.error ? <ControlErrorNotice error={list.error} what={k.title} /> : null}
      {secret ? (
        <div className="notice notice--info secret" role="status">
          <div className="notice__text">
            <strong>
              Copy the {k.one} “{secret.name}” now: it is not shown again.
            </strong>
            <div className="secret__value">
              <code data-testid="new-secret">{secret.token}</code>
              <CopyButton text={secret.token} label={`Copy the ${k.one}`} />
            </div>
          </div>
          <button type="button" className="btn btn--small" onClick={() => setSecret(undefined)}>
            Done
          </button>
        </div>
      ) : null}
      {list.loading && mayRead && !list.data ? <Loading /> : null}
      {list.data && !items.length ? <p className="muted">None yet.</p> : null}
      <ActionResult action={revoke} />
      {items.length ? (
        <div className="table-scroll">
          <table className="table table--cards" aria-label={k.title}>
            <thead>
              <tr>
                <th>Name</th>
                <th>Prefix</th>
                {kind === 'apikeys' ? <th>Role</th> : null}
                <th>Status</th>
                <th>Expires</th>
                <th>Last used</th>
                {mayRevoke ? (
                  <th>
                    <span className="sr-only">Revoke</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {items.map((c) => (
                <tr key={c.id}>
                  <th data-label="Name" className="break">
                    {c.name}
                  </th>
                  <td data-label="Prefix">
                    <code>{c.prefix}</code>
                  </td>
                  {kind === 'apikeys' ? <td data-label="Role">{c.role}</td> : null}
                  <td data-label="Status">
                    <span className={`badge badge--${status(c) === 'active' ? 'ok' : 'neutral'}`}>{status(c)}</span>
                  </td>
                  <td data-label="Expires">{when(c.expiresAt)}</td>
                  <td data-label="Last used">{when(c.lastUsedAt)}</td>
                  {mayRevoke ? (
                    <td>
                      {status(c) === 'active' ? (
                        <button type="button" className="btn btn--small btn--danger" data-edit onClick={() => setRevoking(c)}>
                          Revoke
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
      {mayCreate && (kind !== 'apikeys' || roles.length) ? (
        <form
          className="admin-form admin-form--boxed"
          data-edit
          onSubmit={async (e) => {
            e.preventDefault()
            const n = name.trim()
            await create.run(async () => {
              const r = await cp.createCredential(kind, project.id, { name: n, expiresInDays: days, ...(kind === 'apikeys' ? { role: chosenRole } : {}) })
              setSecret({ name: n, token: r.token })
              setName('')
              await list.reload()
            })
          }}
        >
          <div className="admin-form__row">
            <FormField label="Name" htmlFor={`${id}-name`}>
              <input id={`${id}-name`} className="input" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
            </FormField>
            {kind === 'apikeys' ? (
              <FormField label="Acts as" htmlFor={`${id}-role`}>
                <select id={`${id}-role`} className="select" value={chosenRole} onChange={(e) => setRole(e.target.value)}>
                  {roles.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              </FormField>
            ) : null}
            <FormField label="Valid for (days)" htmlFor={`${id}-days`}>
              <input
                id={`${id}-days`}
                className="input"
                type="number"
                min={1}
                max={365}
                required
                value={days}
                onChange={(e) => setDays(Number(e.target.value))}
              />
            </FormField>
          </div>
          <div className="admin-form__actions">
            <button type="submit" className="btn btn--primary" disabled={create.busy}>
              Create {k.one}
            </button>
          </div>
          <ActionResult action={create} />
        </form>
      ) : null}
      <ConfirmDialog
        open={revoking !== undefined}
        title={`Revoke ${k.one} “${revoking?.name ?? ''}”?`}
        confirmLabel="Revoke"
        tone="danger"
        busy={revoke.busy}
        onCancel={() => setRevoking(undefined)}
        onConfirm={async () => {
          const c = revoking
          if (!c) return
          await revoke.run(() => cp.revokeCredential(kind, project.id, c.id), `${k.one} “${c.name}” revoked.`)
          setRevoking(undefined)
          await list.reload()
        }}
      >
        Runtimes refuse it within seconds. This cannot be undone.
      </ConfirmDialog>
    </Section>
  )
}

export default function CredentialsPage() {
  const { selection } = useControl()
  const project = selection.project
  if (!project) return <NeedSelection what="project" />
  return (
    <div className="page">
      <PageHeader title="API keys & worker tokens" description={`Credentials of project ${project.name}.`} />
      <CredentialSection kind="apikeys" project={project} />
      <CredentialSection kind="worker-tokens" project={project} />
    </div>
  )
}
