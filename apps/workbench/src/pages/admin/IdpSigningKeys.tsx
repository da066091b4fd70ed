/**
 * A SAML provider's SP signing keys on the Identity providers page: each key's state, SHA-256 fingerprint and
 * validity, its certificate under a disclosure. Holders of `idp.manage` rotate in two steps: publish a new key
 * (the metadata lists it beside the current one; the IdP imports it), then activate it (confirmed: an IdP that
 * does not have the new certificate yet refuses what CFP signs from then on).
 */
import { useState } from 'react'
import { useControl } from '../../app/control'
import { ActionResult, ControlErrorNotice, useAction } from '../../components/admin'
import { ConfirmDialog } from '../../components/ConfirmDialog'
import { Loading } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import { formatDateTime } from '../../lib/format'
import type { IdentityProvider, SpSigningKey } from '../../lib/control/types'

const at = (iso: string | undefined) => (iso ? formatDateTime(Date.parse(iso)) : '—')

function stateText(k: SpSigningKey): string {
  if (k.state === 'current') return 'current: signs'
  if (k.state === 'next') return 'next: published, not signing yet'
  return `previous: published until ${at(k.publishedUntil)}`
}

export function SigningKeys({ p, mayManage }: { p: IdentityProvider; mayManage: boolean }) {
  const { cp } = useControl()
  const keys = useResource(() => cp.samlSigningKeys(p.id), [cp, p.id])
  const action = useAction()
  const [confirming, setConfirming] = useState(false)
  const items = keys.data?.items ?? []
  const next = items.find((k) => k.state === 'next')
  return (
    <>
      <h3 className="idp__subtitle">SP signing keys</h3>
      {keys.error ? <ControlErrorNotice error={keys.error} what="signing keys" /> : null}
      {keys.loading && !keys.data ? <Loading /> : null}
      {items.length ? (
        <div className="table-scroll">
          <table className="table table--cards" aria-label={`SP signing keys of ${p.name}`}>
            <thead>
              <tr>
                <th>State</th>
                <th>SHA-256 fingerprint</th>
                <th>Valid until</th>
                <th>Activated</th>
              </tr>
            </thead>
            <tbody>
              {items.map((k) => (
                <tr key={k.id} data-state={k.state}>
                  <th data-label="State">{stateText(k)}</th>
                  <td data-label="SHA-256 fingerprint">
                    <div className="idp__cert">
                      <code className="break">{k.fingerprintSha256}</code>
                      <details>
                        <summary className="small">Certificate (PEM)</summary>
                        <pre className="json">{k.certificate}</pre>
                      </details>
                    </div>
                  </td>
                  <td data-label="Valid until">{at(k.notAfter)}</td>
                  <td data-label="Activated">{at(k.activatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {mayManage && keys.data ? (
        <div className="admin-form__actions">
          {next ? (
            <button type="button" className="btn btn--small" data-edit disabled={action.busy} onClick={() => setConfirming(true)}>
              Activate the new key
            </button>
          ) : (
            <button
              type="button"
              className="btn btn--small"
              data-edit
              disabled={action.busy}
              onClick={() =>
                void action.run(async () => {
                  await cp.createSamlSigningKey(p.id)
                  await keys.reload()
                }, 'New key published in the metadata: let the IdP import it, then activate it.')
              }
            >
              Publish a new key
            </button>
          )}
        </div>
      ) : null}
      <ActionResult action={action} />
      <ConfirmDialog
        open={confirming}
        title={`Sign with the new key of ${p.name}?`}
        titleId={`idp-${p.id}-activate-title`}
        confirmLabel="Activate"
        busy={action.busy}
        onCancel={() => setConfirming(false)}
        onConfirm={async () => {
          await action.run(async () => {
            await cp.activateSamlSigningKey(p.id)
            await keys.reload()
          }, 'The new key signs from now on; the old one stays in the metadata for 7 days.')
          setConfirming(false)
        }}
      >
        From now on CFP signs requests and logout messages with the new key. The IdP must already have its certificate (from the metadata or by hand,
        fingerprint {next?.fingerprintSha256}); one that does not refuses them.
      </ConfirmDialog>
    </>
  )
}
