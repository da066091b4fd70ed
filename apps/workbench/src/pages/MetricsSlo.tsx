/**
 * The SLO parts of the Metrics page: a step's SLO card (per SLI: value, budget remaining, burn rate per window,
 * open alerts), its editor (project overrides, `slo.write`), and the alert history (pending → firing → resolved),
 * each transition with its deliveries to the runtime's alert targets (docs/slo.md "Delivery").
 */
import { useState } from 'react'
import { Link } from 'react-router'
import { usePagePath } from '../app/context'
import { Badge } from '../components/ui'
import { DELIVERY_TONE, type DeliveryView, describeDelivery, transitionKey } from '../lib/alert-deliveries'
import { formatDateTime } from '../lib/format'
import {
  ALERT_TONE,
  type Alert,
  alertSteps,
  type BurnRule,
  formatBudget,
  formatBurn,
  formatPercent,
  formatWindowSecs,
  formFromSpec,
  type SloForm,
  type SloSpec,
  type SloStatus,
  specFromForm,
} from '../lib/slo'

function objective(spec: SloSpec, sli: string): string {
  if (sli === 'latency' && spec.latency) return `${formatPercent(spec.latency.target)} of attempts ≤ ${spec.latency.thresholdMs} ms`
  if (sli === 'errors' && spec.errors) return `${formatPercent(spec.errors.target)} of attempts end ok`
  return sli
}

export interface SloActions {
  save(step: string, spec: SloSpec | null): Promise<void>
  remove(step: string): Promise<void>
}

export function SloCard({
  slo,
  rules,
  mayEdit,
  bounds,
  actions,
  linkStep,
}: {
  slo: SloStatus
  rules: readonly BurnRule[]
  mayEdit: boolean
  bounds: readonly number[]
  actions: SloActions
  linkStep?: boolean
}) {
  const page = usePagePath()
  const [editing, setEditing] = useState(false)
  return (
    <section className="card slo-card" data-testid="slo-card" data-step={slo.step}>
      <h2 className="card__title slo-card__title">
        {linkStep ? <Link to={page(`/metrics/${encodeURIComponent(slo.step)}`)}>{slo.step}</Link> : <span>SLO</span>}
        <Badge
          tone={slo.source === 'override' ? 'info' : 'neutral'}
          title={slo.source === 'override' ? 'Set for this project, replacing the step file' : 'From the step file (config.slo)'}
        >
          {slo.source === 'override' ? 'project override' : 'step file'}
        </Badge>
        <span className="muted small">{slo.spec.window} window</span>
        {slo.alerts.map((a) => (
          <span key={a.id} data-testid="open-alert" data-state={a.state} data-rule={a.rule} data-sli={a.sli}>
            <Badge tone={ALERT_TONE[a.state] ?? 'neutral'}>
              {a.rule} {a.state}
            </Badge>
          </span>
        ))}
      </h2>
      <div className="slo-card__slis">
        {slo.slis.map((s) => {
          const budget = formatBudget(s.budgetRemaining)
          const width = Math.max(0, Math.min(1, s.budgetRemaining)) * 100
          return (
            <div key={s.sli} className="sli" data-testid="sli" data-sli={s.sli}>
              <p className="sli__head">
                <strong>{s.sli === 'errors' ? 'Errors' : 'Latency'}</strong> <span className="muted small">{objective(slo.spec, s.sli)}</span>
              </p>
              <p className="small">
                SLI <strong data-testid="sli-value">{formatPercent(s.value)}</strong> over {s.total.toLocaleString()} attempts ({s.bad.toLocaleString()} bad)
              </p>
              <div className={`budget budget--${budget.tone}`}>
                <div className="budget__bar" aria-hidden="true">
                  <span style={{ width: `${width}%` }} />
                </div>
                <span className="small" data-testid="budget" data-remaining={s.budgetRemaining}>
                  Budget {budget.text}
                </span>
              </div>
              <ul className="burns" aria-label="Burn rate per window">
                {s.burnRates.map(([secs, rate]) => {
                  const b = formatBurn(rate, rules)
                  return (
                    <li key={secs} className={`burn burn--${b.tone}`} data-testid="burn" data-window={secs} data-rate={rate}>
                      <span className="muted">{formatWindowSecs(secs)}</span> {b.text}
                    </li>
                  )
                })}
              </ul>
            </div>
          )
        })}
      </div>
      {mayEdit ? (
        editing ? (
          <SloEditor step={slo.step} spec={slo.spec} bounds={bounds} onDone={() => setEditing(false)} save={(spec) => actions.save(slo.step, spec)} />
        ) : (
          <div className="slo-card__actions">
            <button type="button" className="btn btn--small" data-edit onClick={() => setEditing(true)}>
              Edit SLO
            </button>
            {slo.source === 'override' ? (
              <button type="button" className="btn btn--small" data-edit onClick={() => void actions.remove(slo.step)}>
                Use the step file’s SLO
              </button>
            ) : (
              <button type="button" className="btn btn--small btn--danger" data-edit onClick={() => void actions.save(slo.step, null)}>
                Switch off for this project
              </button>
            )}
          </div>
        )
      ) : null}
    </section>
  )
}

/** The override form; the runtime checks again and names the field of anything it refuses. */
export function SloEditor({
  step,
  spec,
  bounds,
  save,
  onDone,
}: {
  step: string
  spec: SloSpec | undefined
  bounds: readonly number[]
  save: (spec: SloSpec) => Promise<void>
  onDone: () => void
}) {
  const [form, setForm] = useState<SloForm>(() => formFromSpec(spec))
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const field = (key: keyof SloForm, label: string, extra: Record<string, string> = {}) => (
    <label className="stack">
      <span className="label">{label}</span>
      <input className="input" inputMode="decimal" value={form[key]} name={key} onChange={(e) => setForm({ ...form, [key]: e.target.value })} {...extra} />
    </label>
  )
  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    const r = specFromForm(form, bounds)
    if ('error' in r) return setError(r.error)
    setBusy(true)
    try {
      await save(r.spec)
      onDone()
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <form className="slo-form" onSubmit={(e) => void submit(e)} aria-label={`SLO of ${step}`} data-testid="slo-form">
      {field('windowDays', 'Window (days)')}
      {field('errorsTarget', 'Error target (% ok)', { placeholder: 'e.g. 99.9' })}
      <label className="stack">
        <span className="label">Latency threshold</span>
        <select
          className="select"
          name="latencyThresholdMs"
          value={form.latencyThresholdMs}
          onChange={(e) => setForm({ ...form, latencyThresholdMs: e.target.value })}
        >
          <option value="">none</option>
          {bounds.map((b) => (
            <option key={b} value={String(b)}>
              {b} ms
            </option>
          ))}
        </select>
      </label>
      {field('latencyTarget', 'Latency target (% within)', { placeholder: 'e.g. 99' })}
      {field('minEvents', 'Minimum events for an alert', { placeholder: 'runtime default' })}
      {error ? (
        <p className="text-error small slo-form__error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="slo-form__actions">
        <button type="submit" className="btn btn--small btn--primary" data-edit disabled={busy}>
          Save for this project
        </button>
        <button type="button" className="btn btn--small" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  )
}

/** Alerts newest first, each with its transitions and, when the runtime has alert targets, their deliveries. */
export function AlertHistory({
  alerts,
  showStep,
  deliveries,
  nowMs,
}: {
  alerts: readonly Alert[]
  showStep: boolean
  /** Per transition (`transitionKey`), its deliveries; absent when the caller may not read them. */
  deliveries?: ReadonlyMap<string, readonly DeliveryView[]>
  nowMs: number
}) {
  if (alerts.length === 0) return <p className="muted small card__pad">No alert has been raised in this project’s history.</p>
  return (
    <ul className="alerts">
      {alerts.map((a) => (
        <li key={a.id} className="alerts__item" data-testid="alert" data-state={a.state} data-rule={a.rule} data-sli={a.sli} data-step={a.step}>
          <div className="alerts__head">
            <Badge tone={ALERT_TONE[a.state] ?? 'neutral'}>{a.state}</Badge>
            <strong>{a.rule}</strong>
            <span className="muted small">
              {showStep ? `${a.step} · ` : ''}
              {a.sli} · {a.severity} · burn {a.burnLong.toFixed(1)}× / {a.burnShort.toFixed(1)}×
            </span>
          </div>
          <ol className={`alerts__steps small${deliveries ? ' alerts__steps--deliveries' : ''}`}>
            {alertSteps(a).map((s) => {
              const list = deliveries?.get(transitionKey(a.id, s.state)) ?? []
              return (
                <li key={s.state} data-state={s.state}>
                  <span className={`text-${ALERT_TONE[s.state] === 'error' ? 'error' : ALERT_TONE[s.state] === 'ok' ? 'ok' : 'warn'}`}>{s.state}</span>{' '}
                  <span className="muted">{formatDateTime(s.atMs)}</span>
                  {list.length > 0 ? <TransitionDeliveries list={list} nowMs={nowMs} /> : null}
                </li>
              )
            })}
          </ol>
        </li>
      ))}
    </ul>
  )
}

const KIND_LABEL: Record<string, string> = { webhook: 'Webhook', email: 'E-mail', alertmanager: 'Alertmanager' }

/** One transition's deliveries: target, status, attempts, next attempt and last error. */
function TransitionDeliveries({ list, nowMs }: { list: readonly DeliveryView[]; nowMs: number }) {
  return (
    <ul className="deliveries" aria-label="Deliveries to the alert targets">
      {list.map((d) => (
        <li key={d.id} className="deliveries__item" data-testid="delivery" data-target={d.target} data-status={d.shown} data-attempts={d.attempts}>
          <span className="deliveries__target">{KIND_LABEL[d.target] ?? d.target}</span>
          <Badge tone={DELIVERY_TONE[d.shown]}>{d.shown}</Badge>
          <span className="muted deliveries__detail" title={d.lastError ?? undefined}>
            {describeDelivery(d, nowMs)}
          </span>
        </li>
      ))}
    </ul>
  )
}
