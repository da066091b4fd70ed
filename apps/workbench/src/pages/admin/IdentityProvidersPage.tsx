/**
 * The selected tenant's identity providers (OIDC, SAML): what each is, the URLs to register at the IdP
 * (copyable), a SAML provider's SP signing keys, its group → role mappings. Holders of `idp.manage` add, edit,
 * enable/disable and delete providers, edit the mappings and rotate SAML signing keys; holders of `idp.read` see
 * the same values without any control.
 */
import { type ReactNode, useState } from 'react'
import { useCan, useControl, useScopes } from '../../app/control'
import { ActionResult, ControlErrorNotice, Done, NeedSelection, Section, useAction } from '../../components/admin'
import { ConfirmDialog } from '../../components/ConfirmDialog'
import { CopyButton, EmptyState, Loading, PageHeader } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import { createBody, draftOf, KIND_LABEL, patchBody, spUrls } from '../../lib/control/idps'
import type { IdentityProvider, Tenant } from '../../lib/control/types'
import { IdpForm } from './IdpForm'
import { SigningKeys } from './IdpSigningKeys'
import { MappingsEditor, MappingsTable, type Tree } from './IdpMappings'

function Copyable({ label, url }: { label: string; url: string }) {
  return (
    <div className="limits__item">
      <dt>{label}</dt>
      <dd className="copyable">
        <code>{url}</code>
        <CopyButton text={url} label={`Copy the ${label}`} />
      </dd>
    </div>
  )
}

function Item({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="limits__item">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  )
}

function ConfigView({ p }: { p: IdentityProvider }) {
  if (p.kind === 'oidc') {
    const c = p.config
    return (
      <dl className="limits">
        <Item label="Issuer">
          <code>{c.issuer}</code>
        </Item>
        <Item label="Client ID">
          <code>{c.clientId}</code>
        </Item>
        <Item label="Client secret">{p.hasClientSecret === false ? 'none' : 'set (never shown)'}</Item>
        <Item label="Scopes">
          <code>{['openid', 'email', 'profile', ...(c.scopes ?? [])].join(' ')}</code>
        </Item>
        <Item label="Groups claim">
          <code>{c.groupsClaim || 'groups'}</code>
        </Item>
      </dl>
    )
  }
  const c = p.config
  return (
    <>
      <dl className="limits">
        <Item label="SSO URL">
          <code>{c.ssoUrl}</code>
        </Item>
        <Item label="IdP entity ID">
          <code>{c.idpEntityId}</code>
        </Item>
        <Item label="Groups attribute">
          <code>{c.groupsAttribute || 'groups'}</code>
        </Item>
      </dl>
      <details className="idp__cert">
        <summary className="small">IdP signing certificate</summary>
        <pre className="json">{c.idpCertificate}</pre>
      </details>
    </>
  )
}

type Mode = 'view' | 'edit' | 'mappings'

function ProviderCard({
  p,
  tenant,
  tree,
  mayManage,
  reload,
}: {
  p: IdentityProvider
  tenant: Tenant
  tree: Tree | undefined
  mayManage: boolean
  reload: () => Promise<void>
}) {
  const { cp } = useControl()
  const [mode, setMode] = useState<Mode>('view')
  const [deleting, setDeleting] = useState(false)
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const action = useAction()
  const removal = useAction()
  /** After a form's save: back to the values, reloaded, with the outcome under them. (A failure stays in the form.) */
  const saved = async (work: Promise<unknown>, message: string) => {
    await work
    setMode('view')
    setNotice(message)
    await reload()
  }
  const open = (m: Mode) => {
    action.reset()
    setNotice(undefined)
    setMode(m)
  }
  return (
    <Section
      title={p.name}
      actions={
        <span className="inline">
          <span className="badge badge--info">{KIND_LABEL[p.kind]}</span>
          <span className={`badge badge--${p.enabled ? 'ok' : 'neutral'}`} data-testid="idp-status">
            {p.enabled ? 'enabled' : 'disabled'}
          </span>
        </span>
      }
    >
      <dl className="limits">
        <Copyable label="Login URL" url={p.loginUrl} />
        {spUrls(p).map((u) => (
          <Copyable key={u.label} label={u.label} url={u.url} />
        ))}
      </dl>
      {mode === 'edit' ? (
        <IdpForm
          id={`idp-${p.id}`}
          label={`Edit ${p.name}`}
          editing
          initial={draftOf(p)}
          submitLabel="Save provider"
          onSubmit={(d) => saved(cp.updateIdp(p.id, patchBody(d, p)), 'Provider saved.')}
          onCancel={() => setMode('view')}
        />
      ) : (
        <ConfigView p={p} />
      )}
      {p.kind === 'saml' ? <SigningKeys p={p} mayManage={mayManage} /> : null}
      <h3 className="idp__subtitle">Group mappings</h3>
      {mode === 'mappings' ? (
        <MappingsEditor p={p} tree={tree} onSave={(m) => saved(cp.setGroupMappings(p.id, m), 'Group mappings saved.')} onCancel={() => setMode('view')} />
      ) : (
        <MappingsTable p={p} tenantName={tenant.name} tree={tree} />
      )}
      {mayManage && mode === 'view' ? (
        <div className="admin-form__actions">
          <button
            type="button"
            className="btn btn--small"
            data-edit
            disabled={action.busy}
            onClick={() => {
              setNotice(undefined)
              void action.run(
                async () => {
                  await cp.updateIdp(p.id, { enabled: !p.enabled })
                  await reload()
                },
                `${p.name} ${p.enabled ? 'disabled: it no longer signs anyone in' : 'enabled'}.`,
              )
            }}
          >
            {p.enabled ? 'Disable' : 'Enable'}
          </button>
          <button type="button" className="btn btn--small" data-edit onClick={() => open('edit')}>
            Edit
          </button>
          <button type="button" className="btn btn--small" data-edit onClick={() => open('mappings')}>
            Edit mappings
          </button>
          <button type="button" className="btn btn--small btn--danger" data-edit onClick={() => setDeleting(true)}>
            Delete
          </button>
        </div>
      ) : null}
      {notice ? <Done>{notice}</Done> : null}
      <ActionResult action={action} />
      <ActionResult action={removal} />
      <ConfirmDialog
        open={deleting}
        title={`Delete ${p.name}?`}
        confirmLabel="Delete"
        tone="danger"
        busy={removal.busy}
        onCancel={() => setDeleting(false)}
        onConfirm={async () => {
          const ok = await removal.run(() => cp.deleteIdp(p.id))
          setDeleting(false)
          if (ok) await reload()
        }}
      >
        Nobody can sign in through it any more, and its group mappings are deleted. The people it signed in keep their accounts and role bindings (remove those
        on the Role bindings page). This cannot be undone.
      </ConfirmDialog>
    </Section>
  )
}

export default function IdentityProvidersPage() {
  const { cp, selection } = useControl()
  const scopes = useScopes()
  const tenant = selection.tenant
  const mayRead = useCan('idp.read', scopes.tenant)
  const mayManage = useCan('idp.manage', scopes.tenant)
  const idps = useResource(() => cp.idps(tenant!.id), [cp, tenant?.id], { enabled: Boolean(tenant) && mayRead })
  const tree = useResource(
    async (): Promise<Tree> => {
      const teams = (await cp.teams(tenant!.id)).items
      const projects = (await Promise.all(teams.map((t) => cp.projects(t.id)))).flatMap((r) => r.items)
      return { teams, projects }
    },
    [cp, tenant?.id],
    { enabled: Boolean(tenant) && mayRead },
  )
  if (!tenant) return <NeedSelection what="tenant" />
  const items = idps.data?.items ?? []
  return (
    <div className="page">
      <PageHeader title="Identity providers" description={`Single sign-on into ${tenant.name} (OIDC, SAML) and the roles IdP groups receive.`} />
      {!mayRead ? (
        <EmptyState title="Identity providers are not visible to you">
          Your role bindings do not include reading this tenant's identity providers (<code>idp.read</code>: tenant admins and auditors).
        </EmptyState>
      ) : (
        <>
          {idps.error ? <ControlErrorNotice error={idps.error} what="identity providers" /> : null}
          {idps.loading && !idps.data ? <Loading /> : null}
          {idps.data && !items.length ? (
            <EmptyState title="No identity providers yet">
              {mayManage ? 'Add one below; people of the tenant then sign in with it on the login page.' : 'A tenant admin can add one.'}
            </EmptyState>
          ) : null}
          {items.map((p) => (
            <ProviderCard key={p.id} p={p} tenant={tenant} tree={tree.data} mayManage={mayManage} reload={idps.reload} />
          ))}
        </>
      )}
      {mayManage ? (
        <Section title="Add an identity provider">
          <IdpForm
            id="idp-new"
            label="Add an identity provider"
            submitLabel="Add provider"
            done={(d) => `“${d.name.trim()}” added: register its URLs at the identity provider, then map its groups to roles.`}
            onSubmit={async (d) => {
              await cp.createIdp(tenant.id, createBody(d))
              await idps.reload()
            }}
          />
        </Section>
      ) : null}
    </div>
  )
}
