/**
 * Usage (docs/usage.md): the project's — or its whole tenant's — invocations, execution time, events, payload
 * bytes, stream messages and refused requests per hour or day, with totals. Read with `usage.read`; the tenant
 * view is offered where the workbench is served by the control plane (a runtime's own project has no tenant to
 * speak of), and the runtime answers 403 to a caller who may read the project's usage only.
 */
import { useState } from 'react'
import { useApi, useRuntimeScope } from '../app/context'
import { ErrorNotice } from '../components/ErrorNotice'
import { RefreshIcon } from '../components/Icons'
import { Loading, PageHeader } from '../components/ui'
import { useResource } from '../hooks/useResource'
import {
  bucketLabel,
  fillBuckets,
  formatBytes,
  formatCount,
  formatDuration,
  RANGES,
  refusals,
  type UsageCounts,
  type UsageGranularity,
  type UsageScope,
  usageQuery,
} from '../lib/usage'

const COLUMNS: readonly { key: string; label: string; value: (c: UsageCounts) => string }[] = [
  { key: 'invocations', label: 'Invocations', value: (c) => formatCount(c.invocations) },
  { key: 'attempts', label: 'Attempts', value: (c) => formatCount(c.attempts) },
  { key: 'exec', label: 'Execution time', value: (c) => formatDuration(c.execMs) },
  { key: 'events', label: 'Events', value: (c) => formatCount(c.events) },
  { key: 'bytes', label: 'Payload', value: (c) => formatBytes(c.payloadBytes) },
  { key: 'stream', label: 'Stream messages', value: (c) => formatCount(c.streamMessages) },
  { key: 'refused', label: 'Refused (413/429/504)', value: (c) => `${formatCount(refusals(c))}` },
]

export default function UsagePage() {
  const api = useApi()
  const remote = useRuntimeScope().remote
  const [scope, setScope] = useState<UsageScope>('project')
  const [granularity, setGranularity] = useState<UsageGranularity>('hour')
  const [range, setRange] = useState(0)
  const buckets = RANGES[granularity][range]?.buckets ?? RANGES[granularity][0]!.buckets
  const usage = useResource(() => api.usage(usageQuery(scope, granularity, buckets, Date.now())), [api, scope, granularity, buckets], { intervalMs: 30_000 })
  const rows = usage.data ? fillBuckets(usage.data) : []
  const totals = usage.data?.totals

  return (
    <div className="page">
      <PageHeader
        title="Usage"
        description="What this project used, per hour or day (UTC): completed invocations, execution time, events, payload bytes, stream messages and refused requests"
        actions={
          <button type="button" className="btn" onClick={() => void usage.reload()}>
            <RefreshIcon size={15} />
            <span>Refresh</span>
          </button>
        }
      />
      <form className="toolbar card" onSubmit={(e) => e.preventDefault()} aria-label="Usage range">
        {remote ? (
          <label className="stack">
            <span className="label">Scope</span>
            <select className="select" data-testid="usage-scope" value={scope} onChange={(e) => setScope(e.target.value as UsageScope)}>
              <option value="project">This project</option>
              <option value="tenant">Whole tenant</option>
            </select>
          </label>
        ) : null}
        <label className="stack">
          <span className="label">Per</span>
          <select
            className="select"
            data-testid="usage-granularity"
            value={granularity}
            onChange={(e) => {
              setGranularity(e.target.value as UsageGranularity)
              setRange(0)
            }}
          >
            <option value="hour">Hour</option>
            <option value="day">Day</option>
          </select>
        </label>
        <label className="stack">
          <span className="label">Range</span>
          <select className="select" data-testid="usage-range" value={range} onChange={(e) => setRange(Number(e.target.value))}>
            {RANGES[granularity].map((r, i) => (
              <option key={r.label} value={i}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
      </form>
      {usage.error ? <ErrorNotice error={usage.error} what="usage" onRetry={() => void usage.reload()} /> : null}
      <dl className="stats" data-testid="usage-totals">
        {COLUMNS.map((c) => (
          <div key={c.key}>
            <dt>{c.label}</dt>
            <dd data-testid={`usage-total-${c.key}`}>{totals ? c.value(totals) : '—'}</dd>
          </div>
        ))}
      </dl>
      <section className="card table-card">
        <h2 className="card__title">{usage.data?.scope === 'tenant' ? `Tenant ${usage.data.tenant}` : 'Per bucket'}</h2>
        {usage.loading && !usage.data ? (
          <Loading />
        ) : rows.length === 0 ? (
          <p className="muted small card__pad">No usage in this range.</p>
        ) : (
          <table className="table table--cards table--compact">
            <thead>
              <tr>
                <th scope="col">{granularity === 'hour' ? 'Hour (UTC)' : 'Day (UTC)'}</th>
                {COLUMNS.map((c) => (
                  <th key={c.key} scope="col" className="num">
                    {c.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.startMs} data-testid="usage-row" data-start={r.startMs}>
                  <th scope="row" data-label={granularity === 'hour' ? 'Hour' : 'Day'}>
                    {bucketLabel(r.startMs, granularity)}
                  </th>
                  {COLUMNS.map((c) => (
                    <td key={c.key} data-label={c.label} className="num">
                      {c.value(r)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  )
}
