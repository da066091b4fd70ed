/**
 * Queues: per-step counts (ready, delayed, in flight, retrying, dead) and the dead-letter queue, whose items
 * can be replayed or discarded after a confirmation. Both refresh after every action and every few seconds.
 */
import { useState } from 'react'
import { Link } from 'react-router'
import { useApi, usePagePath, useRuntimeScope } from '../app/context'
import { ConfirmDialog } from '../components/ConfirmDialog'
import { ErrorNotice } from '../components/ErrorNotice'
import { RefreshIcon } from '../components/Icons'
import { JsonView } from '../components/JsonView'
import { Badge, Loading, PageHeader } from '../components/ui'
import { useResource } from '../hooks/useResource'
import type { DeadLetter } from '../lib/api/types'
import { formatDateTime, formatRelative, shortId } from '../lib/format'
import { dlqErrorText, queueTotals } from '../lib/queues'

type Pending = { kind: 'replay' | 'discard'; item: DeadLetter }
type Notice = { tone: 'ok' | 'error'; text: string }

const COLUMNS = [
  ['ready', 'Ready'],
  ['delayed', 'Delayed'],
  ['inFlight', 'In flight'],
  ['retrying', 'Retrying'],
  ['dead', 'Dead'],
] as const

export default function QueuesPage() {
  const api = useApi()
  const page = usePagePath()
  // replay and discard are `dlq.replay` (a diagnostic action: the runtime may still say it is switched off)
  const mayAct = useRuntimeScope().can('dlq.replay')
  const queues = useResource(() => api.queues(), [api], { intervalMs: 3000 })
  const dlq = useResource(() => api.dlq(), [api], { intervalMs: 5000 })
  const [pending, setPending] = useState<Pending | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const totals = queueTotals(queues.data?.queues ?? [])

  const refresh = () => Promise.all([queues.reload(), dlq.reload()])

  const act = async () => {
    if (!pending) return
    setBusy(true)
    const { kind, item } = pending
    try {
      if (kind === 'replay') {
        await api.replay(item.id)
        setNotice({ tone: 'ok', text: `Dead letter #${item.id} is back in ${item.step}'s queue.` })
      } else {
        await api.discard(item.id)
        setNotice({ tone: 'ok', text: `Dead letter #${item.id} was discarded.` })
      }
    } catch (e) {
      setNotice({ tone: 'error', text: `${kind === 'replay' ? 'Replay' : 'Discard'} of #${item.id} failed: ${e instanceof Error ? e.message : String(e)}` })
    } finally {
      setBusy(false)
      setPending(undefined)
      await refresh()
    }
  }

  const items = dlq.data?.items ?? []
  return (
    <div className="page">
      <PageHeader
        title="Queues"
        description="Deliveries waiting per step, and events whose handler failed on every attempt"
        actions={
          <button type="button" className="btn" onClick={() => void refresh()}>
            <RefreshIcon size={15} />
            <span>Refresh</span>
          </button>
        }
      />
      <dl className="stats stats--queues">
        {COLUMNS.map(([key, label]) => (
          <div key={key} className={key === 'dead' && totals.dead > 0 ? 'stats--alert' : undefined}>
            <dt>{label}</dt>
            <dd data-testid={`total-${key}`}>{totals[key].toLocaleString()}</dd>
          </div>
        ))}
      </dl>
      {queues.error ? <ErrorNotice error={queues.error} what="queues" onRetry={() => void queues.reload()} /> : null}
      <section className="card table-card">
        <h2 className="card__title">Per step</h2>
        {queues.loading && !queues.data ? (
          <Loading />
        ) : (queues.data?.queues.length ?? 0) === 0 ? (
          <p className="muted small card__pad">No event or cron step has queued work.</p>
        ) : (
          <table className="table table--cards table--compact">
            <thead>
              <tr>
                <th scope="col">Step</th>
                {COLUMNS.map(([key, label]) => (
                  <th key={key} scope="col" className="num">
                    {label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {queues.data!.queues.map((q) => (
                <tr key={q.step} data-testid="queue-row" data-step={q.step}>
                  <th scope="row" data-label="Step">
                    {q.step}
                  </th>
                  {COLUMNS.map(([key, label]) => (
                    <td key={key} data-label={label} className={`num${key === 'dead' && q.dead > 0 ? ' text-error' : ''}`}>
                      {q[key].toLocaleString()}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="card" aria-labelledby="dlq-title">
        <h2 className="card__title" id="dlq-title">
          Dead-letter queue <span className="count">{items.length}</span>
        </h2>
        {notice ? (
          <p className={`notice-inline ${notice.tone === 'ok' ? 'text-ok' : 'text-error'}`} role="status">
            {notice.text}
          </p>
        ) : null}
        {dlq.error ? <ErrorNotice error={dlq.error} what="dead letters" onRetry={() => void dlq.reload()} /> : null}
        {dlq.loading && !dlq.data ? (
          <Loading />
        ) : items.length === 0 ? (
          <p className="muted small card__pad" data-testid="dlq-empty">
            Nothing here: every failed delivery was retried successfully, replayed or discarded.
          </p>
        ) : (
          <ul className="dlq">
            {items.map((item) => (
              <li key={item.id} className="dlq__item" data-testid="dlq-item" data-step={item.step}>
                <div className="dlq__head">
                  <span className="dlq__id mono">#{item.id}</span>
                  <strong>{item.step}</strong>
                  <code className="chip">{item.topic}</code>
                  <Badge tone="warn">{item.attempts === 1 ? '1 attempt' : `${item.attempts} attempts`}</Badge>
                  <span className="muted small" title={formatDateTime(item.failedAtMs)}>
                    {formatRelative(item.failedAtMs, Date.now())}
                  </span>
                </div>
                <p className="dlq__error text-error">{dlqErrorText(item)}</p>
                <div className="dlq__foot">
                  <Link className="small" to={page(`/traces/${encodeURIComponent(item.traceId)}`)}>
                    Trace {shortId(item.traceId)}
                  </Link>
                  <details className="disclosure disclosure--inline">
                    <summary>Event data</summary>
                    <JsonView value={item.data} maxHeight={240} />
                  </details>
                  {mayAct ? (
                    <span className="dlq__actions">
                      <button type="button" className="btn btn--small btn--primary" data-edit onClick={() => setPending({ kind: 'replay', item })}>
                        Replay
                      </button>
                      <button type="button" className="btn btn--small btn--danger" data-edit onClick={() => setPending({ kind: 'discard', item })}>
                        Discard
                      </button>
                    </span>
                  ) : null}
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>
      <ConfirmDialog
        open={pending !== undefined}
        title={pending?.kind === 'replay' ? 'Replay this event?' : 'Discard this event?'}
        confirmLabel={pending?.kind === 'replay' ? 'Replay' : 'Discard'}
        tone={pending?.kind === 'discard' ? 'danger' : 'primary'}
        busy={busy}
        onConfirm={() => void act()}
        onCancel={() => setPending(undefined)}
      >
        {pending ? (
          pending.kind === 'replay' ? (
            <p>
              Event <code>{pending.item.topic}</code> goes back to <strong>{pending.item.step}</strong>’s queue with fresh attempts.
            </p>
          ) : (
            <p>
              Event <code>{pending.item.topic}</code> for <strong>{pending.item.step}</strong> is deleted for good. This cannot be undone.
            </p>
          )
        ) : null}
      </ConfirmDialog>
    </div>
  )
}
