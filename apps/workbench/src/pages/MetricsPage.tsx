/**
 * Metrics and SLOs of the project (`/metrics`) or of one step (`/metrics/<step>`), docs/workbench.md: p50/p95/p99
 * latency and error rate over a chosen window (1 h … 28 d, from the runtime's rollups), queue depth and lag,
 * each SLO's budget remaining and burn rates, and the alert history with each transition's deliveries to the
 * runtime's alert targets. Everyone who reads the project (`flow.read`) reads this; a caller holding `slo.write`
 * (project admins) also edits the project's SLO overrides and is told how alert targets are set.
 */
import { useMemo, useState } from 'react'
import { Link, useParams, useSearchParams } from 'react-router'
import { useApi, usePagePath, useRuntimeScope } from '../app/context'
import { ErrorNotice } from '../components/ErrorNotice'
import { LineChart } from '../components/LineChart'
import { Badge, Loading, PageHeader } from '../components/ui'
import { useResource } from '../hooks/useResource'
import type { QueueStats } from '../lib/api/types'
import { deliveriesByTransition, deliveryApi, summarize } from '../lib/alert-deliveries'
import { formatDateTime } from '../lib/format'
import {
  formatBudget,
  formatMs,
  formatWindowSecs,
  formatPercent,
  type Point,
  pickWindow,
  type SloSpec,
  sloApi,
  stepSummaries,
  toSeries,
  WINDOWS,
  windowRange,
} from '../lib/slo'
import { AlertHistory, type SloActions, SloCard, SloEditor } from './MetricsSlo'
import '../styles/metrics.css'

const LATENCY = [
  { key: 'p50', label: 'p50', color: 'var(--ok)' },
  { key: 'p95', label: 'p95', color: 'var(--warn)' },
  { key: 'p99', label: 'p99', color: 'var(--error)' },
]
const ERRORS = [{ key: 'errorRate', label: 'error rate', color: 'var(--error)' }]

const depth = (q: QueueStats) => q.ready + q.delayed + q.inFlight + q.retrying

function timeLabel(ms: number, windowMs: number): string {
  const d = new Date(ms)
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
  return windowMs <= 86_400_000 ? hm : `${d.getMonth() + 1}/${d.getDate()} ${hm}`
}

export default function MetricsPage() {
  const { step } = useParams()
  const [params, setParams] = useSearchParams()
  const win = pickWindow(params.get('window'))
  const api = useApi()
  const page = usePagePath()
  const slo = useMemo(() => sloApi(api), [api])
  const scope = useRuntimeScope()
  const mayEdit = scope.can('slo.write')
  const mayReadDeliveries = scope.can('flow.read')
  const deliveryCalls = useMemo(() => deliveryApi(api), [api])
  const [adding, setAdding] = useState(false)
  const [notice, setNotice] = useState<{ tone: 'ok' | 'error'; text: string } | undefined>(undefined)

  const rollups = useResource(
    async () => {
      const range = windowRange(win, Date.now())
      return { range, res: await slo.rollups({ ...range, ...(step ? { step } : {}) }) }
    },
    [slo, step, win.key],
    { intervalMs: win.granularity === 'minute' ? 10_000 : 60_000 },
  )
  const status = useResource(() => slo.status(), [slo], { intervalMs: 3000 })
  const alerts = useResource(() => slo.alerts(step), [slo, step], { intervalMs: 3000 })
  const queues = useResource(() => api.queues(), [api], { intervalMs: 5000 })
  const deliveries = useResource(
    async () => {
      if (!mayReadDeliveries) return undefined
      const [d, e] = await Promise.all([deliveryCalls.deliveries(), deliveryCalls.events()])
      return { targets: d.targets, byTransition: deliveriesByTransition(e.events, d.deliveries), at: Date.now() }
    },
    [deliveryCalls, mayReadDeliveries],
    { intervalMs: 3000 },
  )

  const bounds = rollups.data?.res.latencyBoundsMs ?? []
  const rows = rollups.data?.res.rollups ?? []
  const points: Point[] = rollups.data ? toSeries(rows, bounds, rollups.data.range, win.bucketMs) : []
  const whole = rollups.data ? toSeries(rows, bounds, rollups.data.range, win.ms)[0] : undefined
  const summaries = stepSummaries(rows, bounds)
  const slos = (status.data?.slos ?? []).filter((s) => !step || s.step === step)
  const allQueues = queues.data?.queues ?? []
  const myQueues = allQueues.filter((q) => !step || q.step === step)
  const queueDepth = myQueues.reduce((n, q) => n + depth(q), 0)
  const lag = myQueues.reduce((m, q) => Math.max(m, q.oldestReadyMs ?? 0), 0)
  const rules = status.data?.policy.rules ?? []

  const run = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f()
      setNotice({ tone: 'ok', text: what })
    } catch (e) {
      setNotice({ tone: 'error', text: e instanceof Error ? e.message : String(e) })
      throw e
    } finally {
      await status.reload()
    }
  }
  const actions: SloActions = {
    save: (s, spec) => run(spec ? `The SLO of ${s} is set for this project.` : `The SLO of ${s} is off for this project.`, () => slo.setOverride(s, spec)),
    remove: (s) => run(`${s} uses its step file’s SLO again.`, () => slo.removeOverride(s)),
  }

  const steps = [...new Set([...summaries.map((s) => s.step), ...(status.data?.slos ?? []).map((s) => s.step), ...allQueues.map((q) => q.step)])].sort()
  return (
    <div className="page metrics">
      <PageHeader
        title={step ? `Metrics · ${step}` : 'Metrics'}
        description={
          step ? <Link to={page(`/metrics?window=${win.key}`)}>← All steps</Link> : 'Latency, errors, queues and SLOs of the project’s event and cron steps'
        }
        actions={
          <fieldset className="seg" aria-label="Time window">
            {WINDOWS.map((w) => (
              <button
                key={w.key}
                type="button"
                className={`seg__btn${w.key === win.key ? ' seg__btn--on' : ''}`}
                aria-pressed={w.key === win.key}
                data-testid={`window-${w.key}`}
                onClick={() => setParams((p) => ({ ...Object.fromEntries(p), window: w.key }))}
              >
                {w.label}
              </button>
            ))}
          </fieldset>
        }
      />
      {notice ? (
        <p className={`notice-inline ${notice.tone === 'ok' ? 'text-ok' : 'text-error'}`} role="status">
          {notice.text}
        </p>
      ) : null}
      {(
        [
          ['history', rollups],
          ['SLOs', status],
          ['alerts', alerts],
          ['queues', queues],
          ['alert deliveries', deliveries],
        ] as const
      ).map(([what, r]) => (r.error ? <ErrorNotice key={what} error={r.error} what={what} onRetry={() => void r.reload()} /> : null))}
      <dl className="stats" data-testid="metrics-stats">
        <Stat label={`Attempts (${win.label})`} value={whole ? whole.total.toLocaleString() : '—'} />
        <Stat label="Error rate" value={formatPercent(whole?.errorRate)} alert={(whole?.errorRate ?? 0) > 0} testId="stat-error-rate" />
        <Stat label="p50" value={formatMs(whole?.p50)} />
        <Stat label="p95" value={formatMs(whole?.p95)} />
        <Stat label="p99" value={formatMs(whole?.p99)} />
        <Stat label="Queue depth" value={queues.data ? queueDepth.toLocaleString() : '—'} testId="stat-queue-depth" />
        <Stat label="Lag (oldest ready)" value={queues.data ? formatMs(lag) : '—'} />
      </dl>
      {rollups.data?.res.truncated ? <p className="muted small">Only the first 10,000 buckets are shown; pick a shorter window or a step.</p> : null}
      {rollups.loading && !rollups.data ? (
        <Loading />
      ) : (
        <div className="metrics__charts">
          <section className="card">
            <LineChart
              title="Latency"
              testId="chart-latency"
              points={points}
              series={LATENCY}
              value={(p, k) => p[k as 'p50']}
              format={formatMs}
              formatTime={(t) => timeLabel(t, win.ms)}
            />
          </section>
          <section className="card">
            <LineChart
              title="Error rate"
              testId="chart-errors"
              points={points}
              series={ERRORS}
              value={(p) => p.errorRate}
              format={(v) => formatPercent(v)}
              formatTime={(t) => timeLabel(t, win.ms)}
              minMax={0.01}
            />
          </section>
        </div>
      )}
      <p className="muted small">
        Percentiles are estimated from the runtime’s latency histogram ({bounds.length} buckets, interpolated within a bucket); each point is{' '}
        {win.bucketMs >= 3_600_000 ? `${win.bucketMs / 3_600_000} h` : `${win.bucketMs / 60_000} min`}.
      </p>

      <h2 className="metrics__h">Service-level objectives</h2>
      {!mayEdit ? (
        <p className="muted small">
          Read-only: changing a project’s SLOs takes <code>slo.write</code> (project admins).
        </p>
      ) : null}
      {status.loading && !status.data ? <Loading /> : null}
      {slos.map((s) => (
        <SloCard key={s.step} slo={s} rules={rules} mayEdit={mayEdit} bounds={bounds} actions={actions} linkStep={!step} />
      ))}
      {status.data && slos.length === 0 ? (
        <section className="card">
          <p className="muted small card__pad" data-testid="no-slo">
            {step ? `${step} has no SLO.` : 'No step has an SLO.'} Add <code>slo</code> to a step’s config (docs/slo.md)
            {mayEdit && step ? ', or set one for this project here.' : '.'}
          </p>
          {mayEdit && step ? (
            adding ? (
              <SloEditor step={step} spec={undefined} bounds={bounds} save={(spec: SloSpec) => actions.save(step, spec)} onDone={() => setAdding(false)} />
            ) : (
              <button type="button" className="btn btn--small btn--primary" data-edit onClick={() => setAdding(true)}>
                Add an SLO
              </button>
            )
          ) : null}
        </section>
      ) : null}

      {!step ? (
        <section className="card table-card">
          <h2 className="card__title">Per step</h2>
          <table className="table table--cards table--compact" data-testid="metrics-steps">
            <thead>
              <tr>
                <th scope="col">Step</th>
                <th scope="col" className="num">
                  Attempts
                </th>
                <th scope="col" className="num">
                  Errors
                </th>
                <th scope="col" className="num">
                  p95
                </th>
                <th scope="col" className="num">
                  Queue
                </th>
                <th scope="col" className="num">
                  Lag
                </th>
                <th scope="col">SLO budget</th>
              </tr>
            </thead>
            <tbody>
              {steps.map((name) => {
                const s = summaries.find((x) => x.step === name)
                const q = allQueues.find((x) => x.step === name)
                const st = status.data?.slos.find((x) => x.step === name)
                const least = st?.slis.length ? Math.min(...st.slis.map((x) => x.budgetRemaining)) : undefined
                const b = least === undefined ? undefined : formatBudget(least)
                return (
                  <tr key={name} data-testid="metrics-step" data-step={name}>
                    <th scope="row" data-label="Step">
                      <Link to={page(`/metrics/${encodeURIComponent(name)}?window=${win.key}`)}>{name}</Link>
                    </th>
                    <td data-label="Attempts" className="num">
                      {s ? s.total.toLocaleString() : '0'}
                    </td>
                    <td data-label="Errors" className="num">
                      {formatPercent(s?.errorRate)}
                    </td>
                    <td data-label="p95" className="num">
                      {formatMs(s?.p95)}
                    </td>
                    <td data-label="Queue" className="num">
                      {q ? depth(q).toLocaleString() : '—'}
                    </td>
                    <td data-label="Lag" className="num">
                      {q ? formatMs(q.oldestReadyMs ?? 0) : '—'}
                    </td>
                    <td data-label="SLO budget">{b ? <Badge tone={b.tone}>{b.text}</Badge> : <span className="muted">none</span>}</td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </section>
      ) : null}

      <section className="card" aria-labelledby="alerts-title">
        <h2 className="card__title" id="alerts-title">
          Alert history <span className="count">{alerts.data?.alerts.length ?? 0}</span>
        </h2>
        <DeliveryTargets
          targets={deliveries.data?.targets}
          summary={deliveries.data ? summarize([...deliveries.data.byTransition.values()].flat()) : ''}
          mayEdit={mayEdit}
        />
        {alerts.loading && !alerts.data ? (
          <Loading />
        ) : (
          <AlertHistory
            alerts={alerts.data?.alerts ?? []}
            showStep={!step}
            deliveries={deliveries.data?.byTransition}
            nowMs={deliveries.data?.at ?? Date.now()}
          />
        )}
        {status.data ? (
          <p className="muted small">
            Rules: {rules.map((r) => `${r.name} ${r.factor}× over ${formatWindowSecs(r.longSecs)} and ${formatWindowSecs(r.shortSecs)}`).join('; ')}; at least{' '}
            {status.data.policy.minEvents} attempts; evaluated every {status.data.policy.intervalSeconds} s (checked {formatDateTime(status.data.now)}).
          </p>
        ) : null}
      </section>
    </div>
  )
}

/** Which alert targets the runtime delivers transitions to; how they are set, for those who would ask for one. */
function DeliveryTargets({ targets, summary, mayEdit }: { targets: readonly string[] | undefined; summary: string; mayEdit: boolean }) {
  if (targets === undefined) return null
  if (targets.length === 0) {
    return (
      <p className="muted small card__pad" data-testid="alert-targets" data-targets="">
        No alert targets on this runtime: transitions are recorded here and in the audit log only.
        {mayEdit ? (
          <>
            {' '}
            The runtime’s operator sets them with <code>--alert-webhook-url</code>, <code>--alert-smtp-url</code> or <code>--alert-alertmanager-url</code>{' '}
            (docs/slo.md).
          </>
        ) : null}
      </p>
    )
  }
  return (
    <p className="muted small card__pad" data-testid="alert-targets" data-targets={targets.join(',')}>
      Transitions are delivered to: {targets.join(', ')}
      {summary ? ` (listed below: ${summary})` : ''}.
    </p>
  )
}

function Stat({ label, value, alert, testId }: { label: string; value: string; alert?: boolean; testId?: string }) {
  return (
    <div className={alert ? 'stats--alert' : undefined}>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  )
}
