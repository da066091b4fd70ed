/**
 * The form of an identity provider: a new one (OIDC or SAML: the kind is chosen here and never changes) or
 * an existing one (its client secret is never shown: an empty field keeps it).
 */
import { useState } from 'react'
import { ActionResult, FormField, useAction } from '../../components/admin'
import { emptyDraft, type IdpKind, KIND_LABEL, type ProviderDraft } from '../../lib/control/idps'

export function IdpForm({
  id,
  label,
  initial,
  editing,
  submitLabel,
  done,
  onSubmit,
  onCancel,
}: {
  /** prefix of the inputs' ids */
  id: string
  /** the form's accessible name */
  label: string
  initial?: ProviderDraft
  /** an existing provider: the kind is fixed and the secret optional */
  editing?: boolean
  submitLabel: string
  /** the message after a success */
  done?: (d: ProviderDraft) => string
  onSubmit: (d: ProviderDraft) => Promise<unknown>
  onCancel?: () => void
}) {
  const action = useAction()
  const [d, setD] = useState<ProviderDraft>(() => initial ?? emptyDraft())
  const set = (patch: Partial<ProviderDraft>) => setD((x) => ({ ...x, ...patch }))
  const setOidc = (patch: Partial<ProviderDraft['oidc']>) => setD((x) => ({ ...x, oidc: { ...x.oidc, ...patch } }))
  const setSaml = (patch: Partial<ProviderDraft['saml']>) => setD((x) => ({ ...x, saml: { ...x.saml, ...patch } }))
  const f = (name: string) => `${id}-${name}`

  return (
    <form
      className="admin-form"
      aria-label={label}
      data-edit
      onSubmit={async (e) => {
        e.preventDefault()
        const ok = await action.run(() => onSubmit(d), done?.(d))
        if (ok && !editing) setD(emptyDraft(d.kind))
      }}
    >
      <div className="admin-form__row">
        {editing ? null : (
          <FormField label="Protocol" htmlFor={f('kind')}>
            <select id={f('kind')} className="select" value={d.kind} onChange={(e) => set({ kind: e.target.value as IdpKind })}>
              {(['oidc', 'saml'] as const).map((k) => (
                <option key={k} value={k}>
                  {KIND_LABEL[k]}
                </option>
              ))}
            </select>
          </FormField>
        )}
        <FormField label="Name" htmlFor={f('name')} hint="shown on the sign-in button">
          <input id={f('name')} className="input" required maxLength={200} value={d.name} onChange={(e) => set({ name: e.target.value })} />
        </FormField>
      </div>
      {d.kind === 'oidc' ? (
        <div className="admin-form__row">
          <FormField label="Issuer" htmlFor={f('issuer')} hint="https; its /.well-known/openid-configuration is read">
            <input
              id={f('issuer')}
              className="input input--mono"
              type="url"
              required
              maxLength={500}
              placeholder="https://login.example.com"
              value={d.oidc.issuer}
              onChange={(e) => setOidc({ issuer: e.target.value })}
            />
          </FormField>
          <FormField label="Client ID" htmlFor={f('client-id')}>
            <input
              id={f('client-id')}
              className="input input--mono"
              required
              maxLength={300}
              value={d.oidc.clientId}
              onChange={(e) => setOidc({ clientId: e.target.value })}
            />
          </FormField>
          <FormField
            label="Client secret"
            htmlFor={f('client-secret')}
            hint={editing ? 'empty keeps the current secret; never shown again' : 'sealed at rest; never shown again'}
          >
            <input
              id={f('client-secret')}
              className="input input--mono"
              type="password"
              autoComplete="new-password"
              required={!editing}
              maxLength={500}
              value={d.clientSecret}
              onChange={(e) => set({ clientSecret: e.target.value })}
            />
          </FormField>
          <FormField label="Extra scopes" htmlFor={f('scopes')} hint="besides openid, email, profile; spaces between">
            <input
              id={f('scopes')}
              className="input input--mono"
              placeholder="groups"
              value={d.oidc.scopes}
              onChange={(e) => setOidc({ scopes: e.target.value })}
            />
          </FormField>
          <FormField label="Groups claim" htmlFor={f('groups-claim')} hint="empty: groups">
            <input
              id={f('groups-claim')}
              className="input input--mono"
              maxLength={100}
              placeholder="groups"
              value={d.oidc.groupsClaim}
              onChange={(e) => setOidc({ groupsClaim: e.target.value })}
            />
          </FormField>
        </div>
      ) : (
        <>
          <div className="admin-form__row">
            <FormField label="SSO URL" htmlFor={f('sso-url')} hint="the IdP's HTTP-Redirect single sign-on endpoint">
              <input
                id={f('sso-url')}
                className="input input--mono"
                type="url"
                required
                maxLength={500}
                value={d.saml.ssoUrl}
                onChange={(e) => setSaml({ ssoUrl: e.target.value })}
              />
            </FormField>
            <FormField label="IdP entity ID" htmlFor={f('entity-id')}>
              <input
                id={f('entity-id')}
                className="input input--mono"
                required
                maxLength={500}
                value={d.saml.idpEntityId}
                onChange={(e) => setSaml({ idpEntityId: e.target.value })}
              />
            </FormField>
            <FormField label="Groups attribute" htmlFor={f('groups-attribute')} hint="empty: groups">
              <input
                id={f('groups-attribute')}
                className="input input--mono"
                maxLength={200}
                placeholder="groups"
                value={d.saml.groupsAttribute}
                onChange={(e) => setSaml({ groupsAttribute: e.target.value })}
              />
            </FormField>
            <FormField label="Single logout URL" htmlFor={f('slo-url')} hint="optional: the IdP's HTTP-Redirect logout endpoint">
              <input
                id={f('slo-url')}
                className="input input--mono"
                type="url"
                maxLength={500}
                value={d.saml.sloUrl}
                onChange={(e) => setSaml({ sloUrl: e.target.value })}
              />
            </FormField>
          </div>
          <label className="check" htmlFor={f('sign-requests')}>
            <input id={f('sign-requests')} type="checkbox" checked={d.saml.signRequests} onChange={(e) => setSaml({ signRequests: e.target.checked })} /> Sign
            authentication requests (import the SP metadata into the IdP first: it holds the signing certificate)
          </label>
          <FormField label="IdP signing certificate (PEM)" htmlFor={f('certificate')} hint="responses must be signed with it (RSA-SHA256/512)">
            <textarea
              id={f('certificate')}
              className="input input--mono textarea"
              rows={6}
              required
              maxLength={20_000}
              placeholder={'-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----'}
              value={d.saml.idpCertificate}
              onChange={(e) => setSaml({ idpCertificate: e.target.value })}
            />
          </FormField>
        </>
      )}
      <div className="admin-form__actions">
        <button type="submit" className="btn btn--primary" disabled={action.busy}>
          {action.busy ? 'Saving…' : submitLabel}
        </button>
        {onCancel ? (
          <button type="button" className="btn" onClick={onCancel}>
            Cancel
          </button>
        ) : null}
      </div>
      <ActionResult action={action} />
    </form>
  )
}
