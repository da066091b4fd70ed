/**
 * Endpoints: every API step with its schemas, and a form that calls it from the page and shows the response:
 * status, duration, headers, body, and a link to the trace it started. Served by the runtime the call goes to
 * the same origin; served by the control plane it goes to `<runtime>/p/<project><path>` (the project's CORS
 * allowlist must list the control plane's origin), and only for callers with `step.invoke`. The caller's token
 * goes with a call only when its "Send my token" box is ticked (off by default, per endpoint form): a step is
 * tenant code and sees what it is sent (the runtime removes CFP credentials, and the workbench's is a runtime
 * token worthless at the control plane, but the page does not rely on either).
 */
import { memo, useEffect, useMemo, useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import { useApi, usePagePath, useRuntimeScope, useSteps } from '../app/context'
import { ErrorNotice } from '../components/ErrorNotice'
import { CloseIcon, SendIcon } from '../components/Icons'
import { JsonView } from '../components/JsonView'
import { Badge, EmptyState, Loading, MethodBadge, PageHeader } from '../components/ui'
import type { StepManifest } from '../lib/api/types'
import {
  buildRequestUrl,
  callFailureText,
  endpointCall,
  formatResponseBody,
  headersFromRows,
  type KeyValue,
  methodHasBody,
  missingPathParams,
  parseJsonBody,
  pathParamNames,
  sampleFromSchema,
  type ShownBody,
  statusTone,
} from '../lib/endpoint'
import { formatDuration, shortId } from '../lib/format'

interface CallResult {
  url: string
  method: string
  status: number
  statusText: string
  durationMs: number
  headers: Array<[string, string]>
  body: ShownBody
  size: number
  traceId?: string
  error?: string
}

function KeyValueEditor({ label, rows, onChange, idPrefix }: { label: string; rows: KeyValue[]; onChange: (rows: KeyValue[]) => void; idPrefix: string }) {
  const update = (i: number, patch: Partial<KeyValue>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)))
  return (
    <fieldset className="kv">
      <legend>{label}</legend>
      {rows.map((row, i) => (
        <div className="kv__row" key={i}>
          <input
            type="checkbox"
            checked={row.enabled}
            onChange={(e) => update(i, { enabled: e.target.checked })}
            aria-label={`Send ${row.key || `${label} row ${i + 1}`}`}
          />
          <input
            className="input input--mono"
            value={row.key}
            placeholder="name"
            aria-label={`${label} name ${i + 1}`}
            id={`${idPrefix}-k-${i}`}
            onChange={(e) => update(i, { key: e.target.value })}
          />
          <input
            className="input input--mono"
            value={row.value}
            placeholder="value"
            aria-label={`${label} value ${i + 1}`}
            onChange={(e) => update(i, { value: e.target.value })}
          />
          <button
            type="button"
            className="btn btn--ghost btn--icon"
            aria-label={`Remove ${label} row ${i + 1}`}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
          >
            <CloseIcon size={15} />
          </button>
        </div>
      ))}
      <button type="button" className="btn btn--small btn--ghost" onClick={() => onChange([...rows, { key: '', value: '', enabled: true }])}>
        + Add {label === 'Headers' ? 'header' : 'parameter'}
      </button>
    </fieldset>
  )
}

function sampleBody(step: StepManifest): string {
  if (!step.bodySchema) return methodHasBody(step.method ?? 'GET') ? '{}' : ''
  return JSON.stringify(sampleFromSchema(step.bodySchema), null, 2)
}

function RequestForm({ step }: { step: StepManifest }) {
  const method = (step.method ?? 'GET').toUpperCase()
  const path = step.path ?? '/'
  const paramNames = useMemo(() => pathParamNames(path), [path])
  const [pathValues, setPathValues] = useState<Record<string, string>>({})
  const [query, setQuery] = useState<KeyValue[]>(() => (step.queryParams ?? []).map((q) => ({ key: q.name, value: '', enabled: false })))
  const [headers, setHeaders] = useState<KeyValue[]>(() => (methodHasBody(method) ? [{ key: 'content-type', value: 'application/json', enabled: true }] : []))
  const [body, setBody] = useState(() => sampleBody(step))
  const [sendToken, setSendToken] = useState(false)
  const [busy, setBusy] = useState(false)
  const [result, setResult] = useState<CallResult | undefined>(undefined)
  const [formError, setFormError] = useState<string | undefined>(undefined)
  const api = useApi()
  const { remote, can } = useRuntimeScope()
  const mayCall = can('step.invoke')
  const hasBody = methodHasBody(method)
  const url = buildRequestUrl(path, pathValues, query)
  const shownUrl = remote ? api.stepUrl(url) : url

  const send = async () => {
    setFormError(undefined)
    const missing = missingPathParams(path, pathValues)
    if (missing.length > 0) {
      setFormError(`Fill in the path parameter${missing.length > 1 ? 's' : ''} ${missing.join(', ')}.`)
      return
    }
    const parsed = hasBody ? parseJsonBody(body) : ({ ok: true, body: undefined } as const)
    if (!parsed.ok) {
      setFormError(`The body is not valid JSON: ${parsed.error}`)
      return
    }
    setBusy(true)
    const started = performance.now()
    try {
      const res = await api.callStep(method, url, endpointCall(headersFromRows(headers), parsed.body, sendToken))
      const text = await res.text()
      const durationMs = performance.now() - started
      const responseHeaders = [...res.headers.entries()].sort(([a], [b]) => a.localeCompare(b))
      setResult({
        url: shownUrl,
        method,
        status: res.status,
        statusText: res.statusText,
        durationMs,
        headers: responseHeaders,
        body: formatResponseBody(text, res.headers.get('content-type')),
        size: new TextEncoder().encode(text).length,
        traceId: res.headers.get('x-trace-id') ?? undefined,
      })
    } catch (e) {
      setResult({
        url: shownUrl,
        method,
        status: 0,
        statusText: '',
        durationMs: performance.now() - started,
        headers: [],
        body: { kind: 'empty', text: '' },
        size: 0,
        error: callFailureText(e instanceof Error ? e.message : String(e), remote ? window.location.origin : undefined),
      })
    } finally {
      setBusy(false)
    }
  }

  return (
    <>
      <form
        className="card request"
        aria-label={`Call ${method} ${path}`}
        onSubmit={(e) => {
          e.preventDefault()
          void send()
        }}
      >
        <div className="request__line">
          <MethodBadge method={method} />
          <code className="request__url" data-testid="request-url">
            {shownUrl}
          </code>
          {mayCall ? (
            <button type="submit" className="btn btn--primary" disabled={busy} data-edit>
              <SendIcon size={16} />
              <span>{busy ? 'Sending…' : 'Send'}</span>
            </button>
          ) : null}
        </div>
        {paramNames.length > 0 ? (
          <fieldset className="kv">
            <legend>Path parameters</legend>
            <div className="path-params">
              {paramNames.map((name) => (
                <label key={name} className="stack">
                  <span className="label">:{name}</span>
                  <input
                    className="input input--mono"
                    value={pathValues[name] ?? ''}
                    onChange={(e) => setPathValues((v) => ({ ...v, [name]: e.target.value }))}
                    required
                  />
                </label>
              ))}
            </div>
          </fieldset>
        ) : null}
        <KeyValueEditor label="Query" rows={query} onChange={setQuery} idPrefix="q" />
        <KeyValueEditor label="Headers" rows={headers} onChange={setHeaders} idPrefix="h" />
        <label className="small" data-testid="send-token">
          <input type="checkbox" checked={sendToken} onChange={(e) => setSendToken(e.target.checked)} /> Send my token with this call
          <span className="muted"> — the step's code sees what it is sent; leave off unless the step needs your identity</span>
        </label>
        {hasBody ? (
          <label className="stack">
            <span className="label">Body (JSON)</span>
            <textarea className="input input--mono textarea" rows={8} value={body} onChange={(e) => setBody(e.target.value)} spellCheck={false} name="body" />
          </label>
        ) : null}
        {!mayCall ? (
          <p className="muted small" data-testid="no-invoke">
            Your role bindings do not allow calling this project's API steps (<code>step.invoke</code>).
          </p>
        ) : null}
        {formError ? (
          <p className="text-error small" role="alert">
            {formError}
          </p>
        ) : null}
      </form>
      {result ? <ResponseView result={result} /> : null}
    </>
  )
}

const ResponseView = memo(function ResponseView({ result }: { result: CallResult }) {
  const page = usePagePath()
  const tone = statusTone(result.status)
  return (
    <section className="card response" aria-label="Response" data-testid="response">
      <div className="response__summary">
        <Badge tone={tone === 'ok' ? 'ok' : tone === 'warn' ? 'warn' : 'error'}>
          <span data-testid="response-status">{result.status === 0 ? 'failed' : result.status}</span> {result.statusText}
        </Badge>
        <span className="muted small">{formatDuration(result.durationMs)}</span>
        <span className="muted small">{result.size.toLocaleString()} B</span>
        {result.traceId ? (
          <Link className="small" to={page(`/traces/${encodeURIComponent(result.traceId)}`)} data-testid="response-trace">
            Trace {shortId(result.traceId)} →
          </Link>
        ) : null}
      </div>
      {result.error ? <p className="text-error small">{result.error}</p> : null}
      {result.body.kind === 'json' ? (
        <JsonView text={result.body.text} maxHeight={360} label="Response body" />
      ) : result.body.kind === 'text' ? (
        <pre className="json" tabIndex={0}>
          {result.body.text}
        </pre>
      ) : (
        <p className="muted small">Empty body</p>
      )}
      {result.headers.length > 0 ? (
        <details className="disclosure">
          <summary>Headers ({result.headers.length})</summary>
          <dl className="headers">
            {result.headers.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
        </details>
      ) : null}
    </section>
  )
})

function EndpointDetail({ step }: { step: StepManifest }) {
  const schemas: Array<[string, unknown]> = []
  if (step.bodySchema) schemas.push(['Body schema', step.bodySchema])
  for (const [status, schema] of Object.entries(step.responseSchema ?? {})) schemas.push([`Response ${status}`, schema])
  return (
    <div className="endpoint-detail">
      <div className="endpoint-detail__head">
        <h2>
          <MethodBadge method={step.method ?? 'GET'} /> <code>{step.path}</code>
        </h2>
        <p className="muted">
          {step.name}
          {step.flows?.length ? ` · ${step.flows.join(', ')}` : ''}
        </p>
        {step.description ? <p>{step.description}</p> : null}
      </div>
      <RequestForm key={step.name} step={step} />
      {step.queryParams?.length ? (
        <section className="card">
          <h3>Query parameters</h3>
          <dl className="fields">
            {step.queryParams.map((q) => (
              <div className="field" key={q.name}>
                <dt>
                  <code>{q.name}</code>
                </dt>
                <dd>{q.description ?? ''}</dd>
              </div>
            ))}
          </dl>
        </section>
      ) : null}
      {schemas.length > 0 ? (
        <section className="card">
          <h3>Schemas</h3>
          {schemas.map(([label, value]) => (
            <details key={label} className="disclosure">
              <summary>{label}</summary>
              <JsonView value={value} maxHeight={320} label={label} />
            </details>
          ))}
        </section>
      ) : null}
    </div>
  )
}

export default function EndpointsPage() {
  const steps = useSteps()
  const [search, setSearch] = useSearchParams()
  const [filter, setFilter] = useState('')
  const apis = useMemo(
    () =>
      (steps.data?.steps ?? [])
        .filter((s) => s.type === 'api')
        .sort((a, b) => (a.path ?? '').localeCompare(b.path ?? '') || (a.method ?? '').localeCompare(b.method ?? '')),
    [steps.data],
  )
  const shown = apis.filter((s) => `${s.method} ${s.path} ${s.name}`.toLowerCase().includes(filter.trim().toLowerCase()))
  const selectedName = search.get('step') ?? apis[0]?.name
  const selected = apis.find((s) => s.name === selectedName)

  useEffect(() => {
    if (!search.get('step') && apis[0]) setSearch({ step: apis[0].name }, { replace: true })
  }, [apis, search, setSearch])

  let body
  if (steps.error && !steps.data) body = <ErrorNotice error={steps.error} what="the steps" onRetry={() => void steps.reload()} />
  else if (!steps.data) body = <Loading />
  else if (apis.length === 0)
    body = (
      <EmptyState title="No API steps">
        Steps with <code>type: 'api'</code> appear here.
      </EmptyState>
    )
  else
    body = (
      <div className="split">
        <nav className="split__list card" aria-label="API steps">
          <div className="split__filter">
            <label className="sr-only" htmlFor="endpoint-filter">
              Filter endpoints
            </label>
            <input id="endpoint-filter" className="input" placeholder="Filter endpoints" value={filter} onChange={(e) => setFilter(e.target.value)} />
          </div>
          <ul className="list">
            {shown.map((s) => (
              <li key={s.name}>
                <button
                  type="button"
                  className={`list__item${s.name === selected?.name ? ' list__item--active' : ''}`}
                  aria-current={s.name === selected?.name ? 'true' : undefined}
                  onClick={() => setSearch({ step: s.name })}
                >
                  <MethodBadge method={s.method ?? 'GET'} />
                  <span className="list__main">
                    <code className="list__title">{s.path}</code>
                    <span className="list__sub">{s.name}</span>
                  </span>
                </button>
              </li>
            ))}
            {shown.length === 0 ? <li className="muted small list__none">No endpoint matches.</li> : null}
          </ul>
        </nav>
        <div className="split__detail">{selected ? <EndpointDetail step={selected} /> : null}</div>
      </div>
    )

  return (
    <div className="page">
      <PageHeader title="Endpoints" description="API steps of this project; call them from here" />
      {body}
    </div>
  )
}
