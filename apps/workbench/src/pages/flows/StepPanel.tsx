/** The side panel of a selected step: its config, schemas, and recent runs. */
import { useState } from 'react'
import { Link } from 'react-router'
import { useApi, usePagePath, useRuntimeScope } from '../../app/context'
import { JsonView } from '../../components/JsonView'
import { CloseIcon } from '../../components/Icons'
import { Badge, Field, MethodBadge, StatusDot, StepTypeBadge } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import type { StepManifest } from '../../lib/api/types'
import { normalizeEmit } from '../../lib/graph/build'
import { describeCron, formatDuration, formatRelative, shortId } from '../../lib/format'

function Topics({ step }: { step: StepManifest }) {
  const subscribes = [...(step.subscribes ?? []).map((t) => ({ t, virtual: false })), ...(step.virtualSubscribes ?? []).map((t) => ({ t, virtual: true }))]
  const emits = [
    ...(step.emits ?? []).map((e) => ({ ...normalizeEmit(e), virtual: false })),
    ...(step.virtualEmits ?? []).map((e) => ({ ...normalizeEmit(e), virtual: true })),
  ]
  return (
    <>
      {subscribes.length > 0 ? (
        <Field label="Subscribes">
          <ul className="chips">
            {subscribes.map(({ t, virtual }) => (
              <li key={`${t}${virtual}`}>
                <code className="chip">{t}</code>
                {virtual ? <Badge>virtual</Badge> : null}
              </li>
            ))}
          </ul>
        </Field>
      ) : null}
      <Field label="Emits">
        {emits.length === 0 ? (
          <span className="muted">{step.type === 'noop' ? 'nothing' : 'any topic (emits: [])'}</span>
        ) : (
          <ul className="chips">
            {emits.map((e) => (
              <li key={`${e.topic}${e.virtual}`}>
                <code className="chip">{e.topic}</code>
                {e.label ? <span className="muted">“{e.label}”</span> : null}
                {e.conditional ? <Badge tone="warn">conditional</Badge> : null}
                {e.virtual ? <Badge>virtual</Badge> : null}
              </li>
            ))}
          </ul>
        )}
      </Field>
    </>
  )
}

function Schemas({ step }: { step: StepManifest }) {
  const entries: Array<[string, unknown]> = []
  if (step.bodySchema) entries.push(['Body schema', step.bodySchema])
  for (const [status, schema] of Object.entries(step.responseSchema ?? {})) entries.push([`Response ${status}`, schema])
  if (step.input) entries.push(['Input schema', step.input])
  if (step.queryParams?.length) entries.push(['Query parameters', step.queryParams])
  if (entries.length === 0) return null
  return (
    <section className="panel__section">
      <h3>Schemas</h3>
      {entries.map(([label, value], i) => (
        <details key={label} className="disclosure" open={i === 0}>
          <summary>{label}</summary>
          <JsonView value={value} maxHeight={280} label={label} />
        </details>
      ))}
    </section>
  )
}

function RecentRuns({ step }: { step: StepManifest }) {
  const api = useApi()
  const page = usePagePath()
  const traces = useResource(() => api.traces(200), [step.name], { intervalMs: 5000 })
  const runs = (traces.data?.traces ?? []).filter((t) => t.steps.includes(step.name)).slice(0, 8)
  const now = Date.now()
  return (
    <section className="panel__section">
      <h3>Recent runs</h3>
      {traces.error ? (
        <p className="muted small">{traces.error.isMissingEndpoint ? 'Run history needs the runtime’s GET /traces endpoint.' : traces.error.message}</p>
      ) : traces.loading && !traces.data ? (
        <p className="muted small">Loading…</p>
      ) : runs.length === 0 ? (
        <p className="muted small">No runs yet.</p>
      ) : (
        <ul className="runs">
          {runs.map((t) => (
            <li key={t.traceId}>
              <Link to={page(`/traces/${encodeURIComponent(t.traceId)}`)} className="runs__link">
                <StatusDot status={t.status} />
                <code>{shortId(t.traceId)}</code>
                <span className="muted">{formatRelative(t.startedMs, now)}</span>
                <span className="runs__dur">{t.endedMs ? formatDuration(t.endedMs - t.startedMs) : 'running'}</span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      <p className="small">
        <Link to={page(`/logs?step=${encodeURIComponent(step.name)}`)}>Logs of {step.name} →</Link>
      </p>
    </section>
  )
}

/** The step's file, fetched from a worker hosting it when first opened (a diagnostic endpoint). */
function Source({ step }: { step: StepManifest }) {
  const api = useApi()
  const [open, setOpen] = useState(false)
  const source = useResource(() => api.stepSource(step.name), [step.name], { enabled: open })
  return (
    <section className="panel__section">
      <details className="disclosure" onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
        <summary>Source</summary>
        {source.error ? (
          <p className="muted small" role="status">
            {source.error.code === 'dev_endpoint_disabled' ? source.error.message : `The source is not available: ${source.error.message}`}
          </p>
        ) : !source.data ? (
          <p className="muted small">Loading…</p>
        ) : (
          <pre className="code-block" aria-label={`Source of ${source.data.file}`}>
            <code>{source.data.text}</code>
          </pre>
        )}
      </details>
    </section>
  )
}

export function StepPanel({ step, onClose }: { step: StepManifest; onClose: () => void }) {
  const page = usePagePath()
  const mayReadSource = useRuntimeScope().can('step.source.read')
  const queue = step.infrastructure?.queue
  const handler = step.infrastructure?.handler
  return (
    <aside className="panel" aria-label={`Step ${step.name}`}>
      <header className="panel__head">
        <div>
          <StepTypeBadge type={step.type} />
          <h2 className="panel__title">{step.name}</h2>
        </div>
        <button type="button" className="btn btn--ghost btn--icon" onClick={onClose} aria-label="Close step details">
          <CloseIcon />
        </button>
      </header>
      {step.description ? <p className="panel__desc">{step.description}</p> : null}
      <section className="panel__section">
        <h3>Configuration</h3>
        <dl className="fields">
          {step.type === 'api' ? (
            <Field label="Route">
              <MethodBadge method={step.method ?? 'GET'} /> <code>{step.path}</code>{' '}
              <Link className="small" to={page(`/endpoints?step=${encodeURIComponent(step.name)}`)}>
                Try it →
              </Link>
            </Field>
          ) : null}
          {step.type === 'cron' ? (
            <Field label="Schedule">
              <code>{step.cron}</code> <span className="muted">{describeCron(step.cron ?? '')}</span>
            </Field>
          ) : null}
          <Topics step={step} />
          {step.file ? (
            <Field label="File">
              <code className="break">{step.file}</code>
            </Field>
          ) : null}
          {step.flows?.length ? <Field label="Flows">{step.flows.join(', ')}</Field> : null}
          {queue ? (
            <Field label="Queue">
              {queue.type ?? 'standard'} · {queue.maxRetries ?? 3} retries · visibility {queue.visibilityTimeout ?? 900} s
              {queue.concurrency ? ` · concurrency ${queue.concurrency}` : ''}
              {queue.delaySeconds ? ` · delay ${queue.delaySeconds} s` : ''}
            </Field>
          ) : null}
          {handler?.timeout ? <Field label="Timeout">{handler.timeout} s</Field> : null}
        </dl>
      </section>
      <Schemas step={step} />
      {mayReadSource && step.file ? <Source step={step} /> : null}
      {step.type !== 'noop' ? <RecentRuns step={step} /> : null}
    </aside>
  )
}
