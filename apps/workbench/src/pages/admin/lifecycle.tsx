/**
 * Rename and delete on the Tenants, Teams and Projects pages: per-row buttons (only where the matrix allows
 * `<kind>.update` / `<kind>.delete` for that row) and their dialogs. Deleting asks the user to type the slug, as
 * GitHub does for a repository, and says what goes with it; the server's refusal (e.g. 409 `not_empty` for a team
 * that still has projects) is shown in the dialog.
 */
import { type ReactNode, useState } from 'react'
import { ActionResult, Done, FormField, useAction } from '../../components/admin'
import { ConfirmDialog } from '../../components/ConfirmDialog'
import type { Row } from './parts'

export type Kind = 'tenant' | 'team' | 'project'

/** What deleting one of these takes with it (and what it does not). */
export function consequences(kind: Kind, slug: string): string[] {
  const reuse = `The slug ${slug} can be used again afterwards.`
  switch (kind) {
    case 'project':
      return [
        'Its API keys and worker tokens are revoked: runtimes refuse them within seconds and disconnect its workers.',
        'Its role bindings are removed; it disappears from every list, and runtimes answer 404 for it.',
        'Its runtime data (state, logs, traces, queued events, streams) is purged after the runtime’s retention, 7 days by default. There is no undo.',
        reuse,
      ]
    case 'team':
      return [
        'Only an empty team can be deleted: delete its projects first.',
        'Its role bindings and identity-provider group mappings are removed; it disappears from every list.',
        reuse,
      ]
    case 'tenant':
      return [
        'Only a tenant without teams can be deleted: delete its teams first.',
        'Its members, role bindings and identity providers are removed, and sessions opened through its providers end.',
        'Runtime data of its former projects is purged after the runtime’s retention.',
        reuse,
      ]
  }
}

export interface LifecycleOptions<T extends Row> {
  kind: Kind
  mayRename(row: T): boolean
  mayDelete(row: T): boolean
  rename(row: T, name: string): Promise<unknown>
  remove(row: T, confirm: string): Promise<unknown>
  /** Reloads what shows the rows (lists, switcher) after a change. */
  changed(): Promise<unknown>
}

export interface Lifecycle<T extends Row> {
  /** The row's Rename / Delete buttons (nothing when neither is allowed). */
  actions(row: T): ReactNode
  /** The two dialogs and the last success message. */
  dialogs: ReactNode
}

export function useLifecycle<T extends Row>(o: LifecycleOptions<T>): Lifecycle<T> {
  const [renaming, setRenaming] = useState<T | undefined>(undefined)
  const [name, setName] = useState('')
  const [deleting, setDeleting] = useState<T | undefined>(undefined)
  const [typed, setTyped] = useState('')
  const [done, setDone] = useState<string | undefined>(undefined)
  const renameAction = useAction()
  const deleteAction = useAction()
  const label = o.kind.charAt(0).toUpperCase() + o.kind.slice(1)
  const id = `${o.kind}-lifecycle`

  const startRename = (r: T) => {
    renameAction.reset()
    setDone(undefined)
    setName(r.name)
    setRenaming(r)
  }
  const startDelete = (r: T) => {
    deleteAction.reset()
    setDone(undefined)
    setTyped('')
    setDeleting(r)
  }
  const newName = name.trim()

  const actions = (r: T): ReactNode => {
    const rename = o.mayRename(r)
    const del = o.mayDelete(r)
    if (!rename && !del) return null
    return (
      <>
        {rename ? (
          <button type="button" className="btn btn--small" data-edit aria-label={`Rename ${o.kind} ${r.name}`} onClick={() => startRename(r)}>
            Rename
          </button>
        ) : null}
        {del ? (
          <button type="button" className="btn btn--small btn--danger" data-edit aria-label={`Delete ${o.kind} ${r.name}`} onClick={() => startDelete(r)}>
            Delete
          </button>
        ) : null}
      </>
    )
  }

  const dialogs = (
    <>
      {done ? <Done>{done}</Done> : null}
      <ConfirmDialog
        open={renaming !== undefined}
        titleId={`${id}-rename-title`}
        title={`Rename ${o.kind} “${renaming?.name ?? ''}”`}
        confirmLabel="Rename"
        busy={renameAction.busy}
        confirmDisabled={!newName || newName === renaming?.name}
        onCancel={() => setRenaming(undefined)}
        onConfirm={async () => {
          const r = renaming
          if (!r) return
          const ok = await renameAction.run(() => o.rename(r, newName))
          if (!ok) return
          setRenaming(undefined)
          setDone(`${label} “${r.name}” renamed to “${newName}”.`)
          await o.changed()
        }}
      >
        <FormField label="New name" htmlFor={`${id}-name`} hint={`The slug ${renaming?.slug ?? ''} stays as it is.`}>
          <input id={`${id}-name`} className="input" value={name} required maxLength={200} onChange={(e) => setName(e.target.value)} />
        </FormField>
        <ActionResult action={renameAction} />
      </ConfirmDialog>
      <ConfirmDialog
        open={deleting !== undefined}
        titleId={`${id}-delete-title`}
        title={`Delete ${o.kind} “${deleting?.name ?? ''}”?`}
        confirmLabel={`Delete ${o.kind}`}
        tone="danger"
        busy={deleteAction.busy}
        confirmDisabled={!deleting || typed !== deleting.slug}
        onCancel={() => setDeleting(undefined)}
        onConfirm={async () => {
          const r = deleting
          if (!r || typed !== r.slug) return
          const ok = await deleteAction.run(() => o.remove(r, typed))
          if (!ok) return
          setDeleting(undefined)
          setDone(`${label} “${r.name}” deleted.`)
          await o.changed()
        }}
      >
        {deleting ? (
          <div className="stack">
            <ul className="lifecycle__list">
              {consequences(o.kind, deleting.slug).map((c) => (
                <li key={c}>{c}</li>
              ))}
            </ul>
            <FormField label={`Type ${deleting.slug} to confirm`} htmlFor={`${id}-confirm`}>
              <input
                id={`${id}-confirm`}
                className="input input--mono"
                value={typed}
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => setTyped(e.target.value)}
              />
            </FormField>
            <ActionResult action={deleteAction} />
          </div>
        ) : null}
      </ConfirmDialog>
    </>
  )

  return { actions, dialogs }
}
