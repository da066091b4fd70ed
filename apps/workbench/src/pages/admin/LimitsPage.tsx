/**
 * Limits of the selected tenant and project (request body size, timeout, concurrent requests and
 * executions). A project never exceeds its tenant: the effective value is the smaller of the two.
 */
import { useEffect, useState } from 'react'
import { useCan, useControl, useScopes } from '../../app/control'
import { ActionResult, ControlErrorNotice, NeedSelection, Section, useAction } from '../../components/admin'
import { Loading, PageHeader } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import type { Limits } from '../../lib/control/types'

const FIELDS: { key: keyof Limits; label: string; unit: string; min: number; max: number }[] = [
  { key: 'maxBodyBytes', label: 'Max request body', unit: 'bytes', min: 1, max: 104_857_600 },
  { key: 'requestTimeoutMs', label: 'Request timeout', unit: 'ms', min: 100, max: 900_000 },
  { key: 'maxConcurrentRequests', label: 'Concurrent API requests', unit: 'requests', min: 1, max: 100_000 },
  { key: 'maxConcurrentExecutions', label: 'Concurrent step executions', unit: 'executions', min: 1, max: 100_000 },
]

const show = (v: number | undefined, unit: string) => (v === undefined ? 'no limit' : `${v.toLocaleString('en')} ${unit}`)

/** Limits as text fields (empty = no limit) → the API's object. */
export function toLimits(values: Record<string, string>): Limits {
  const out: Limits = {}
  for (const f of FIELDS) {
    const v = values[f.key]?.trim()
    if (v) out[f.key] = Number(v)
  }
  return out
}

function LimitsEditor({
  id,
  limits,
  editable,
  onSave,
  effective,
}: {
  id: string
  limits: Limits
  editable: boolean
  onSave: (l: Limits) => Promise<unknown>
  effective?: Limits
}) {
  const action = useAction()
  const [values, setValues] = useState<Record<string, string>>({})
  useEffect(() => setValues(Object.fromEntries(FIELDS.map((f) => [f.key, limits[f.key] === undefined ? '' : String(limits[f.key])]))), [limits])
  if (!editable) {
    return (
      <dl className="limits">
        {FIELDS.map((f) => (
          <div key={f.key} className="limits__item">
            <dt>{f.label}</dt>
            <dd>{show(limits[f.key], f.unit)}</dd>
            {effective ? <dd className="small muted">effective: {show(effective[f.key], f.unit)}</dd> : null}
          </div>
        ))}
      </dl>
    )
  }
  return (
    <form
      className="admin-form"
      data-edit
      onSubmit={async (e) => {
        e.preventDefault()
        await action.run(() => onSave(toLimits(values)), 'Limits saved.')
      }}
    >
      <div className="admin-form__row">
        {FIELDS.map((f) => (
          <div key={f.key} className="stack">
            <label className="label" htmlFor={`${id}-${f.key}`}>
              {f.label} ({f.unit})
            </label>
            <input
              id={`${id}-${f.key}`}
              className="input"
              type="number"
              min={f.min}
              max={f.max}
              placeholder="no limit"
              value={values[f.key] ?? ''}
              onChange={(e) => setValues((v) => ({ ...v, [f.key]: e.target.value }))}
            />
            {effective ? <span className="small muted">effective: {show(effective[f.key], f.unit)}</span> : null}
          </div>
        ))}
      </div>
      <div className="admin-form__actions">
        <button type="submit" className="btn btn--primary" disabled={action.busy}>
          Save limits
        </button>
      </div>
      <ActionResult action={action} />
    </form>
  )
}

export default function LimitsPage() {
  const { cp, selection } = useControl()
  const scopes = useScopes()
  const tenant = selection.tenant
  const project = selection.project
  const mayTenant = useCan('limits.update', scopes.tenant)
  const mayProject = useCan('limits.update', scopes.project)
  const tenantLimits = useResource(() => cp.tenantLimits(tenant!.id), [cp, tenant?.id], { enabled: Boolean(tenant) })
  const settings = useResource(() => cp.projectSettings(project!.id), [cp, project?.id], { enabled: Boolean(project) })
  if (!tenant) return <NeedSelection what="tenant" />
  return (
    <div className="page">
      <PageHeader title="Limits" description="What the runtime enforces per request and at once; a project never exceeds its tenant." />
      <Section title={`Tenant ${tenant.name}`}>
        {tenantLimits.error ? <ControlErrorNotice error={tenantLimits.error} what="tenant limits" /> : null}
        {tenantLimits.data ? (
          <LimitsEditor
            id="tenant-limits"
            limits={tenantLimits.data}
            editable={mayTenant}
            onSave={async (l) => {
              await cp.setTenantLimits(tenant.id, l)
              await Promise.all([tenantLimits.reload(), settings.reload()])
            }}
          />
        ) : tenantLimits.loading ? (
          <Loading />
        ) : null}
      </Section>
      {project ? (
        <Section title={`Project ${project.name}`}>
          {settings.error ? <ControlErrorNotice error={settings.error} what="project limits" /> : null}
          {settings.data ? (
            <LimitsEditor
              id="project-limits"
              limits={settings.data.limits}
              effective={settings.data.effectiveLimits}
              editable={mayProject}
              onSave={async (l) => {
                await cp.setProjectLimits(project.id, l)
                await settings.reload()
              }}
            />
          ) : settings.loading ? (
            <Loading />
          ) : null}
        </Section>
      ) : null}
    </div>
  )
}
