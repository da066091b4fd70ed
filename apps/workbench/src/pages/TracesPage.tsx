/** Traces: the latest traces (GET /traces), newest first, refreshed while live spans end. */
import { useEffect, useState } from 'react'
import { Link, useNavigate } from 'react-router'
import { useApi, useHub, usePagePath } from '../app/context'
import { ErrorNotice } from '../components/ErrorNotice'
import { RefreshIcon } from '../components/Icons'
import { EmptyState, Loading, PageHeader, StatusDot } from '../components/ui'
import { useResource } from '../hooks/useResource'
import { formatDateTime, formatDuration, formatRelative, shortId } from '../lib/format'

const STATUS_TEXT: Record<string, string> = { ok: 'Succeeded', error: 'Failed', running: 'Running' }

export default function TracesPage() {
  const api = useApi()
  const hub = useHub()
  const navigate = useNavigate()
  const page = usePagePath()
  const traces = useResource(() => api.traces(100), [api], { intervalMs: 5000 })
  const [now, setNow] = useState(Date.now())

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const off = hub.on('span', (ev) => {
      if (ev.phase !== 'end' || timer) return
      timer = setTimeout(() => {
        timer = undefined
        void traces.reload()
      }, 400)
    })
    return () => {
      off()
      if (timer) clearTimeout(timer)
    }
  }, [hub, traces.reload])

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000)
    return () => clearInterval(t)
  }, [])
  // biome-ignore lint/correctness/useExhaustiveDependencies: relative times are recomputed when new data arrives
  useEffect(() => setNow(Date.now()), [traces.data])

  const list = traces.data?.traces ?? []
  return (
    <div className="page">
      <PageHeader
        title="Traces"
        description="Every request, event and cron run, with the steps it went through"
        actions={
          <button type="button" className="btn" onClick={() => void traces.reload()}>
            <RefreshIcon size={15} />
            <span>Refresh</span>
          </button>
        }
      />
      {traces.error ? <ErrorNotice error={traces.error} what="Traces" onRetry={() => void traces.reload()} /> : null}
      {traces.loading && !traces.data ? (
        <Loading label="Loading traces…" />
      ) : !traces.data ? null : list.length === 0 ? (
        <EmptyState title="No traces yet">Call an endpoint or emit an event: its trace appears here.</EmptyState>
      ) : (
        <div className="card table-card">
          <table className="table table--cards table--clickable">
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Trace</th>
                <th scope="col">Steps</th>
                <th scope="col" className="num">
                  Spans
                </th>
                <th scope="col">Started</th>
                <th scope="col" className="num">
                  Duration
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((t) => (
                <tr key={t.traceId} onClick={() => navigate(page(`/traces/${encodeURIComponent(t.traceId)}`))} data-testid="trace-row">
                  <td data-label="Status">
                    <span className="inline">
                      <StatusDot status={t.status} />
                      {STATUS_TEXT[t.status] ?? t.status}
                    </span>
                  </td>
                  <td data-label="Trace">
                    <Link to={page(`/traces/${encodeURIComponent(t.traceId)}`)} onClick={(e) => e.stopPropagation()} className="mono" title={t.traceId}>
                      {shortId(t.traceId)}
                    </Link>
                  </td>
                  <td data-label="Steps">
                    <span className="chips chips--inline">
                      {t.steps.slice(0, 3).map((s) => (
                        <span key={s} className="chip">
                          {s}
                        </span>
                      ))}
                      {t.steps.length > 3 ? <span className="muted small">+{t.steps.length - 3}</span> : null}
                    </span>
                  </td>
                  <td data-label="Spans" className="num">
                    {t.spans}
                  </td>
                  <td data-label="Started" title={formatDateTime(t.startedMs)}>
                    {formatRelative(t.startedMs, now)}
                  </td>
                  <td data-label="Duration" className="num">
                    {t.endedMs ? formatDuration(t.endedMs - t.startedMs) : '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}
