/**
 * The selected project's CORS allowlist, strict event validation and diagnostic switches; editable by
 * those allowed (cors.update, validation.update, diagnostics.update), read-only for everyone else.
 */
import { useEffect, useState } from 'react'
import { useCan, useControl, useScopes } from '../../app/control'
import { ActionResult, ControlErrorNotice, NeedSelection, Section, useAction } from '../../components/admin'
import { Loading, PageHeader } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import type { Cors, Diagnostics, ProjectSettings } from '../../lib/control/types'

const DIAGNOSTICS: { key: keyof Diagnostics; label: string }[] = [
  { key: 'emit', label: 'Emit events by hand' },
  { key: 'stateWrite', label: 'Edit state by hand' },
  { key: 'dlqReplay', label: 'Replay and delete dead letters' },
  { key: 'stepSource', label: 'Read step source' },
]

/** The allowlist textarea (one origin per line, or commas) → distinct origins. */
export function parseOrigins(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,]+/)
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ]
}

const onOff = (v: boolean) => <span className={`badge badge--${v ? 'ok' : 'neutral'}`}>{v ? 'on' : 'off'}</span>

function CorsSection({ s, editable, save }: { s: ProjectSettings; editable: boolean; save: (c: Cors) => Promise<unknown> }) {
  const action = useAction()
  const [text, setText] = useState('')
  const [credentials, setCredentials] = useState(false)
  useEffect(() => {
    setText(s.cors.allowedOrigins.join('\n'))
    setCredentials(s.cors.allowCredentials)
  }, [s])
  return (
    <Section title="CORS">
      {editable ? (
        <form
          className="admin-form"
          data-edit
          onSubmit={async (e) => {
            e.preventDefault()
            await action.run(() => save({ allowedOrigins: parseOrigins(text), allowCredentials: credentials }), 'CORS saved.')
          }}
        >
          <label className="label" htmlFor="cors-origins">
            Allowed origins (one per line; * for any, never with credentials)
          </label>
          <textarea
            id="cors-origins"
            className="input input--mono textarea"
            rows={4}
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="https://app.example.com"
          />
          <label className="check">
            <input type="checkbox" checked={credentials} onChange={(e) => setCredentials(e.target.checked)} /> Allow credentials (cookies)
          </label>
          <div className="admin-form__actions">
            <button type="submit" className="btn btn--primary" disabled={action.busy}>
              Save CORS
            </button>
          </div>
          <ActionResult action={action} />
        </form>
      ) : (
        <dl className="limits">
          <div className="limits__item">
            <dt>Allowed origins</dt>
            <dd className="break">{s.cors.allowedOrigins.length ? s.cors.allowedOrigins.join(', ') : 'none (same origin only)'}</dd>
          </div>
          <div className="limits__item">
            <dt>Credentials</dt>
            <dd>{onOff(s.cors.allowCredentials)}</dd>
          </div>
        </dl>
      )}
    </Section>
  )
}

function Switches<K extends string>({
  title,
  items,
  values,
  editable,
  save,
  id,
}: {
  title: string
  id: string
  items: { key: K; label: string }[]
  values: Record<K, boolean>
  editable: boolean
  save: (v: Record<K, boolean>) => Promise<unknown>
}) {
  const action = useAction()
  const [draft, setDraft] = useState(values)
  useEffect(() => setDraft(values), [values])
  return (
    <Section title={title}>
      {editable ? (
        <form
          className="admin-form"
          data-edit
          onSubmit={async (e) => {
            e.preventDefault()
            await action.run(() => save(draft), `${title} saved.`)
          }}
        >
          {items.map((i) => (
            <label key={i.key} className="check" htmlFor={`${id}-${i.key}`}>
              <input id={`${id}-${i.key}`} type="checkbox" checked={draft[i.key]} onChange={(e) => setDraft((d) => ({ ...d, [i.key]: e.target.checked }))} />{' '}
              {i.label}
            </label>
          ))}
          <div className="admin-form__actions">
            <button type="submit" className="btn btn--primary" disabled={action.busy}>
              Save
            </button>
          </div>
          <ActionResult action={action} />
        </form>
      ) : (
        <dl className="limits">
          {items.map((i) => (
            <div key={i.key} className="limits__item">
              <dt>{i.label}</dt>
              <dd>{onOff(values[i.key])}</dd>
            </div>
          ))}
        </dl>
      )}
    </Section>
  )
}

export default function SettingsPage() {
  const { cp, selection } = useControl()
  const { project: path } = useScopes()
  const project = selection.project
  const mayCors = useCan('cors.update', path)
  const mayValidation = useCan('validation.update', path)
  const mayDiagnostics = useCan('diagnostics.update', path)
  const settings = useResource(() => cp.projectSettings(project!.id), [cp, project?.id], { enabled: Boolean(project) })
  if (!project) return <NeedSelection what="project" />
  const s = settings.data
  const saved = async (p: Promise<unknown>) => {
    await p
    await settings.reload()
  }
  return (
    <div className="page">
      <PageHeader title="Project settings" description={`CORS, validation and diagnostics of ${project.name}, enforced by its runtime.`} />
      {settings.error ? <ControlErrorNotice error={settings.error} what="settings" /> : null}
      {settings.loading && !s ? <Loading /> : null}
      {s ? (
        <>
          <CorsSection s={s} editable={mayCors} save={(c) => saved(cp.setCors(project.id, c))} />
          <Switches
            id="validation"
            title="Validation"
            items={[{ key: 'strict', label: 'Strict: refuse events that do not match the subscriber’s input schema' }]}
            values={s.validation}
            editable={mayValidation}
            save={(v) => saved(cp.setValidation(project.id, v))}
          />
          <Switches
            id="diagnostics"
            title="Diagnostics"
            items={DIAGNOSTICS}
            values={s.diagnostics}
            editable={mayDiagnostics}
            save={(v) => saved(cp.setDiagnostics(project.id, v))}
          />
        </>
      ) : null}
    </div>
  )
}
