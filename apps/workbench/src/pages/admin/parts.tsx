/**
 * Pieces shared by the tenant, team and project pages: the create form (name, slug) and the listing (with each
 * row's rename / delete buttons from lifecycle.tsx, where allowed).
 */
import { type ReactNode, useState } from 'react'
import { ActionResult, FormField, slugify, useAction } from '../../components/admin'
import { formatDateTime } from '../../lib/format'

export function CreateForm({ what, onCreate, extra }: { what: string; onCreate: (v: { name: string; slug: string }) => Promise<unknown>; extra?: ReactNode }) {
  const action = useAction()
  const [name, setName] = useState('')
  const [slug, setSlug] = useState('')
  const [slugTouched, setSlugTouched] = useState(false)
  const id = what.toLowerCase().replace(/\s+/g, '-')
  return (
    <form
      className="admin-form"
      data-edit
      onSubmit={async (e) => {
        e.preventDefault()
        const ok = await action.run(() => onCreate({ name: name.trim(), slug }), `${what} “${name.trim()}” created.`)
        if (ok) {
          setName('')
          setSlug('')
          setSlugTouched(false)
        }
      }}
    >
      <div className="admin-form__row">
        <FormField label="Name" htmlFor={`${id}-name`}>
          <input
            id={`${id}-name`}
            className="input"
            value={name}
            required
            maxLength={200}
            onChange={(e) => {
              setName(e.target.value)
              if (!slugTouched) setSlug(slugify(e.target.value))
            }}
          />
        </FormField>
        <FormField label="Slug" htmlFor={`${id}-slug`} hint="a-z, 0-9 and -, 2 to 63 characters">
          <input
            id={`${id}-slug`}
            className="input input--mono"
            value={slug}
            required
            pattern="[a-z0-9][a-z0-9\-]{1,62}"
            onChange={(e) => {
              setSlugTouched(true)
              setSlug(e.target.value)
            }}
          />
        </FormField>
        {extra}
      </div>
      <div className="admin-form__actions">
        <button type="submit" className="btn btn--primary" disabled={action.busy}>
          {action.busy ? 'Creating…' : `Create ${what.toLowerCase()}`}
        </button>
      </div>
      <ActionResult action={action} />
    </form>
  )
}

export interface Row {
  id: string
  name: string
  slug: string
  createdAt: string
  region?: string
}

export function StructureTable<T extends Row>({
  rows,
  selected,
  onSelect,
  label,
  actions,
}: {
  rows: T[]
  selected?: string
  onSelect: (id: string) => void
  label: string
  /** more buttons of a row (rename, delete) */
  actions?: (row: T) => ReactNode
}) {
  const withRegion = rows.some((r) => r.region)
  return (
    <div className="table-scroll">
      <table className="table table--cards" aria-label={label}>
        <thead>
          <tr>
            <th>Name</th>
            <th>Slug</th>
            {withRegion ? <th>Region</th> : null}
            <th>Created</th>
            <th>
              <span className="sr-only">Select</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.id} aria-current={r.id === selected ? 'true' : undefined}>
              <th data-label="Name">{r.name}</th>
              <td data-label="Slug">
                <code>{r.slug}</code>
              </td>
              {withRegion ? <td data-label="Region">{r.region}</td> : null}
              <td data-label="Created">{formatDateTime(Date.parse(r.createdAt))}</td>
              <td>
                <span className="inline wrap row-actions">
                  {r.id === selected ? (
                    <span className="badge badge--accent">selected</span>
                  ) : (
                    <button type="button" className="btn btn--small" onClick={() => onSelect(r.id)}>
                      Select
                    </button>
                  )}
                  {actions?.(r)}
                </span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
