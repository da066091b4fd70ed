/**
 * The tenant / team / project switcher above every admin page and the runtime pages; each list shows what the
 * caller may read. On admin pages it links to the selected project's runtime pages.
 */
import { Link, useLocation } from 'react-router'
import { useControl } from '../app/control'

function Select<T extends { id: string; name: string; slug: string }>({
  id,
  label,
  items,
  value,
  loading,
  onChange,
}: {
  id: string
  label: string
  items: T[] | undefined
  value: string | undefined
  loading: boolean
  onChange: (id: string) => void
}) {
  return (
    <div className="switcher__item">
      <label className="label" htmlFor={id}>
        {label}
      </label>
      <select id={id} className="select" value={value ?? ''} disabled={!items?.length} onChange={(e) => onChange(e.target.value)}>
        {!items?.length ? <option value="">{loading ? 'Loading…' : 'none'}</option> : null}
        {items?.map((i) => (
          <option key={i.id} value={i.id}>
            {i.name} ({i.slug})
          </option>
        ))}
      </select>
    </div>
  )
}

export function Switcher() {
  const { me, tenants, teams, projects, selection, select } = useControl()
  const onRuntimePages = useLocation().pathname.startsWith('/p/')
  // everything the pages gate on has loaded (tests wait for this before looking for edit controls)
  const ready = Boolean(me.data && tenants.data && (!selection.tenant || teams.data) && (!selection.team || projects.data))
  return (
    <nav className="switcher" aria-label="Tenant, team and project" data-ready={ready ? 'true' : undefined}>
      <Select
        id="switch-tenant"
        label="Tenant"
        items={tenants.data?.items}
        value={selection.tenant?.id}
        loading={tenants.loading}
        onChange={(id) => select('tenant', id)}
      />
      <Select
        id="switch-team"
        label="Team"
        items={teams.data?.items}
        value={selection.team?.id}
        loading={teams.loading}
        onChange={(id) => select('team', id)}
      />
      <Select
        id="switch-project"
        label="Project"
        items={projects.data?.items}
        value={selection.project?.id}
        loading={projects.loading}
        onChange={(id) => select('project', id)}
      />
      {selection.project && !onRuntimePages ? (
        <Link className="switcher__open small" to={`/p/${encodeURIComponent(selection.project.id)}/flows`} data-testid="open-runtime">
          Flows, logs &amp; queues of {selection.project.name} →
        </Link>
      ) : null}
    </nav>
  )
}
