/** Streams: stream names, their groups, and the items of a group, refreshed every few seconds. */
import { useSearchParams } from 'react-router'
import { useApi } from '../app/context'
import { ErrorNotice } from '../components/ErrorNotice'
import { RefreshIcon } from '../components/Icons'
import { JsonView } from '../components/JsonView'
import { EmptyState, Loading, PageHeader } from '../components/ui'
import { useResource } from '../hooks/useResource'

function itemId(item: unknown, index: number): string {
  const id = (item as { id?: unknown } | null)?.id
  return typeof id === 'string' || typeof id === 'number' ? String(id) : `#${index + 1}`
}

export default function StreamsPage() {
  const api = useApi()
  const [search, setSearch] = useSearchParams()
  const streams = useResource(() => api.streams(), [api], { intervalMs: 3000 })
  const list = streams.data?.streams ?? []
  const name = search.get('stream') ?? list[0]?.name
  const stream = list.find((s) => s.name === name)
  const groupId = search.get('group') ?? stream?.groups[0]?.groupId
  const items = useResource(() => api.streamGroup(name ?? '', groupId ?? ''), [name, groupId], {
    intervalMs: 3000,
    enabled: name !== undefined && groupId !== undefined,
  })
  const missing = streams.error?.isMissingEndpoint

  return (
    <div className="page">
      <PageHeader
        title="Streams"
        description="Live data steps publish with ctx.streams, per group"
        actions={
          missing ? null : (
            <button type="button" className="btn" onClick={() => void Promise.all([streams.reload(), items.reload()])}>
              <RefreshIcon size={15} />
              <span>Refresh</span>
            </button>
          )
        }
      />
      {missing ? (
        <EmptyState title="Streams are not available on this runtime">
          <p>
            The runtime answered 404 to <code>GET /__cfp/api/streams</code>: this build has no streams API yet. Step files that declare streams still load;
            their data shows here once the runtime serves it.
          </p>
        </EmptyState>
      ) : streams.error ? (
        <ErrorNotice error={streams.error} what="streams" onRetry={() => void streams.reload()} />
      ) : null}
      {missing ? null : streams.loading && !streams.data ? (
        <Loading />
      ) : !streams.data ? null : list.length === 0 ? (
        <EmptyState title="No streams">
          Declare one in a <code>*.stream.ts</code> file.
        </EmptyState>
      ) : (
        <div className="split">
          <nav className="split__list card" aria-label="Streams and groups">
            <ul className="list">
              {list.map((s) => (
                <li key={s.name}>
                  <div className="list__heading mono">{s.name}</div>
                  <ul className="list list--nested">
                    {s.groups.length === 0 ? <li className="muted small list__none">no groups</li> : null}
                    {s.groups.map((g) => {
                      const active = s.name === name && g.groupId === groupId
                      return (
                        <li key={g.groupId}>
                          <button
                            type="button"
                            className={`list__item${active ? ' list__item--active' : ''}`}
                            aria-current={active ? 'true' : undefined}
                            onClick={() => setSearch({ stream: s.name, group: g.groupId })}
                          >
                            <span className="list__main">
                              <span className="list__title mono">{g.groupId}</span>
                            </span>
                            <span className="count">{g.items}</span>
                          </button>
                        </li>
                      )
                    })}
                  </ul>
                </li>
              ))}
            </ul>
          </nav>
          <section className="split__detail" aria-label="Items">
            <div className="split__detail-head">
              <h2 className="mono">
                {name} / {groupId ?? '—'}
              </h2>
              {stream?.file ? <span className="muted small mono">{stream.file}</span> : null}
            </div>
            {stream?.schema ? (
              <details className="disclosure card kv-item">
                <summary>Item schema</summary>
                <JsonView value={stream.schema} maxHeight={280} label={`Schema of ${stream.name}`} />
              </details>
            ) : null}
            {items.error ? <ErrorNotice error={items.error} what="items" /> : null}
            {groupId === undefined ? (
              <EmptyState title="This stream has no groups yet" />
            ) : items.loading && !items.data ? (
              <Loading />
            ) : (items.data?.items.length ?? 0) === 0 ? (
              <EmptyState title="No items in this group" />
            ) : (
              <ul className="kv-list">
                {items.data!.items.map((item, i) => (
                  <li key={itemId(item, i)} className="card kv-item">
                    <h3 className="kv-item__key mono">{itemId(item, i)}</h3>
                    <JsonView value={item} maxHeight={320} />
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
