/**
 * One trace: a timeline with a bar per span (step, trigger, attempt, duration; failures in red with their
 * error), the trace's log lines, and links back to the logs.
 */
import { useEffect, useMemo, useState } from 'react'
import { Link, useParams } from 'react-router'
import { useApi, useHub, usePagePath } from '../app/context'
import { ErrorNotice } from '../components/ErrorNotice'
import { LogRow } from '../components/LogRow'
import { Badge, CopyButton, EmptyState, Loading, PageHeader } from '../components/ui'
import { useResource } from '../hooks/useResource'
import { formatDateTime, formatDuration } from '../lib/format'
import { logKey } from '../lib/logs'
import { axisTicks, traceStats, traceTimeline } from '../lib/traces'

function Timeline({ spans }: { spans: Parameters<typeof traceTimeline>[0] }) {
  const [now, setNow] = useState(Date.now())
  const running = spans.some((s) => s.endedMs === undefined || s.endedMs === null)
  useEffect(() => {
    if (!running) return
    const t = setInterval(() => setNow(Date.now()), 250)
    return () => clearInterval(t)
  }, [running])
  const timeline = useMemo(() => traceTimeline(spans, now), [spans, now])
  const ticks = axisTicks(timeline.totalMs)
  return (
    <div className="timeline" role="table" aria-label="Spans of this trace">
      <div className="timeline__axis" role="row" aria-hidden="true">
        <span className="timeline__label" />
        <span className="timeline__scale">
          {ticks.map((t) => (
            <span key={t} className="timeline__tick" style={{ left: `${timeline.totalMs ? (t / timeline.totalMs) * 100 : 0}%` }}>
              {t === 0 ? '0' : formatDuration(t)}
            </span>
          ))}
        </span>
      </div>
      {timeline.rows.map((row) => (
        <div
          key={String(row.span.id)}
          className={`timeline__row${row.failed ? ' timeline__row--failed' : ''}`}
          role="row"
          data-testid="span-row"
          data-step={row.span.step}
        >
          <div className="timeline__label" role="cell">
            <span className="timeline__step">{row.span.step}</span>
            <span className="timeline__meta">
              <Badge tone={row.span.trigger === 'api' ? 'info' : row.span.trigger === 'cron' ? 'warn' : 'accent'}>{row.span.trigger}</Badge>
              {row.retry ? <Badge tone="warn">attempt {row.span.attempt}</Badge> : null}
              {row.failed ? <Badge tone="error">failed</Badge> : null}
              {row.running ? <Badge tone="info">running</Badge> : null}
            </span>
          </div>
          <div className="timeline__track" role="cell">
            {ticks.map((t) =>
              t > 0 && timeline.totalMs > 0 ? (
                <span key={t} className="timeline__grid" style={{ left: `${(t / timeline.totalMs) * 100}%` }} aria-hidden="true" />
              ) : null,
            )}
            <div
              className={`timeline__bar timeline__bar--${row.failed ? 'error' : row.running ? 'running' : String(row.span.trigger)}`}
              style={{ left: `${row.offsetPct}%`, width: `${row.widthPct}%` }}
              title={`${row.span.step}: ${formatDuration(row.durationMs)}`}
            />
            <span className="timeline__dur" style={{ left: `calc(${row.offsetPct + row.widthPct}% + 6px)` }}>
              {formatDuration(row.durationMs)}
            </span>
          </div>
          {row.failed && row.span.error ? (
            <p className="timeline__error" role="cell">
              {row.span.error.name && row.span.error.name !== 'Error' ? <strong>{row.span.error.name}: </strong> : null}
              {row.span.error.message}
            </p>
          ) : null}
        </div>
      ))}
    </div>
  )
}

export default function TraceDetailPage() {
  const { traceId = '' } = useParams()
  const api = useApi()
  const hub = useHub()
  const page = usePagePath()
  const trace = useResource(() => api.trace(traceId), [traceId], { intervalMs: 3000 })
  const logs = useResource(() => api.logs({ traceId, limit: 500 }), [traceId], { intervalMs: 3000 })

  useEffect(
    () =>
      hub.on('span', (ev) => {
        if (ev.traceId === traceId) void trace.reload()
      }),
    [hub, traceId, trace.reload],
  )

  const spans = trace.data?.spans ?? []
  const stats = traceStats(spans)
  const startedMs = spans.length ? Math.min(...spans.map((s) => s.startedMs)) : undefined
  const timeline = traceTimeline(spans, Date.now())

  return (
    <div className="page">
      <nav className="crumbs small" aria-label="Breadcrumb">
        <Link to={page('/traces')}>Traces</Link> <span aria-hidden="true">/</span> <span className="mono">{traceId.slice(0, 8)}</span>
      </nav>
      <PageHeader
        title="Trace"
        description={
          <span className="inline wrap">
            <code className="break" data-testid="trace-id">
              {traceId}
            </code>
            <CopyButton text={traceId} label="Copy trace id" />
          </span>
        }
        actions={
          <Link className="btn" to={page(`/logs?traceId=${encodeURIComponent(traceId)}`)}>
            Open in Logs
          </Link>
        }
      />
      {trace.error && trace.error.status === 404 && !trace.error.isMissingEndpoint ? (
        <EmptyState title="No spans recorded for this trace yet">{trace.error.message}. This page checks again every few seconds.</EmptyState>
      ) : trace.error ? (
        <ErrorNotice error={trace.error} what="Traces" onRetry={() => void trace.reload()} />
      ) : null}
      {trace.loading && !trace.data ? (
        <Loading label="Loading trace…" />
      ) : trace.data ? (
        <>
          <dl className="stats stats--trace">
            <div>
              <dt>Status</dt>
              <dd>
                {stats.errors > 0 ? (
                  <Badge tone="error">failed</Badge>
                ) : spans.some((s) => s.endedMs == null) ? (
                  <Badge tone="info">running</Badge>
                ) : (
                  <Badge tone="ok">succeeded</Badge>
                )}
              </dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd title={startedMs ? formatDateTime(startedMs) : undefined}>{startedMs ? formatDateTime(startedMs).slice(11) : '—'}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>{formatDuration(timeline.totalMs)}</dd>
            </div>
            <div>
              <dt>Steps</dt>
              <dd>{stats.steps}</dd>
            </div>
            <div>
              <dt>Spans</dt>
              <dd>{stats.spans}</dd>
            </div>
            <div>
              <dt>Retries</dt>
              <dd>{stats.retries}</dd>
            </div>
            <div>
              <dt>Errors</dt>
              <dd className={stats.errors ? 'text-error' : undefined}>{stats.errors}</dd>
            </div>
          </dl>
          <section className="card">
            <h2 className="card__title">Timeline</h2>
            {spans.length === 0 ? <EmptyState title="No spans recorded for this trace" /> : <Timeline spans={spans} />}
          </section>
        </>
      ) : null}
      <section className="card log-card">
        <h2 className="card__title">Logs</h2>
        {logs.error ? (
          <ErrorNotice error={logs.error} what="logs" />
        ) : !logs.data ? (
          <Loading />
        ) : logs.data.logs.length === 0 ? (
          <p className="muted small">No log lines in this trace.</p>
        ) : (
          <ul className="logs" aria-label="Log lines of this trace">
            {logs.data.logs.map((line) => (
              <LogRow key={logKey(line)} line={line} showTrace={false} />
            ))}
          </ul>
        )}
      </section>
    </div>
  )
}
