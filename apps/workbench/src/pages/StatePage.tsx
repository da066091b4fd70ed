/** State: groups, then the keys of a group with their JSON values. */
import { useMemo, useState } from 'react'
import { useSearchParams } from 'react-router'
import { useApi } from '../app/context'
import { ErrorNotice } from '../components/ErrorNotice'
import { RefreshIcon } from '../components/Icons'
import { JsonView } from '../components/JsonView'
import { EmptyState, Loading, PageHeader } from '../components/ui'
import { useResource } from '../hooks/useResource'

export default function StatePage() {
  const api = useApi()
  const [search, setSearch] = useSearchParams()
  const [filter, setFilter] = useState('')
  const groups = useResource(() => api.stateGroups(), [api], { intervalMs: 5000 })
  const list = groups.data?.groups ?? []
  const group = search.get('group') ?? list[0]?.group
  const items = useResource(() => api.stateGroup(group ?? ''), [group], { intervalMs: 5000, enabled: group !== undefined })
  const shown = useMemo(() => (items.data?.items ?? []).filter((i) => i.key.toLowerCase().includes(filter.trim().toLowerCase())), [items.data, filter])

  return (
    <div className="page">
      <PageHeader
        title="State"
        description="Values steps keep with state.set(group, key, value)"
        actions={
          <button type="button" className="btn" onClick={() => void Promise.all([groups.reload(), items.reload()])}>
            <RefreshIcon size={15} />
            <span>Refresh</span>
          </button>
        }
      />
      {groups.error ? <ErrorNotice error={groups.error} what="State" onRetry={() => void groups.reload()} /> : null}
      {groups.loading && !groups.data ? (
        <Loading />
      ) : !groups.data ? null : list.length === 0 ? (
        <EmptyState title="No state yet">Groups appear here once a step calls state.set.</EmptyState>
      ) : (
        <div className="split">
          <nav className="split__list card" aria-label="State groups">
            <ul className="list">
              {list.map((g) => (
                <li key={g.group}>
                  <button
                    type="button"
                    className={`list__item${g.group === group ? ' list__item--active' : ''}`}
                    aria-current={g.group === group ? 'true' : undefined}
                    onClick={() => setSearch({ group: g.group })}
                  >
                    <span className="list__main">
                      <span className="list__title mono">{g.group}</span>
                    </span>
                    <span className="count">{g.keys}</span>
                  </button>
                </li>
              ))}
            </ul>
          </nav>
          <section className="split__detail" aria-label={`Group ${group ?? ''}`}>
            <div className="split__detail-head">
              <h2 className="mono">{group}</h2>
              <label className="sr-only" htmlFor="key-filter">
                Filter keys
              </label>
              <input id="key-filter" className="input" placeholder="Filter keys" value={filter} onChange={(e) => setFilter(e.target.value)} />
            </div>
            {items.error ? <ErrorNotice error={items.error} what="this group" onRetry={() => void items.reload()} /> : null}
            {items.loading && !items.data ? (
              <Loading />
            ) : shown.length === 0 ? (
              <EmptyState title={items.data?.items.length ? 'No key matches' : 'This group is empty'} />
            ) : (
              <ul className="kv-list">
                {shown.map((item) => (
                  <li key={item.key} className="card kv-item" data-testid="state-item">
                    <h3 className="kv-item__key mono">{item.key}</h3>
                    <JsonView value={item.value} maxHeight={320} label={`Value of ${item.key}`} />
                  </li>
                ))}
              </ul>
            )}
          </section>
        </div>
      )}
    </div>
  )
}
