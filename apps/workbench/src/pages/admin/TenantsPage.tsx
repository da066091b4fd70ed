/**
 * Tenants the caller may read; a system admin creates them (each pinned to a region for good). Rename and delete
 * per row where the matrix allows (`tenant.update`, `tenant.delete`).
 */
import { useState } from 'react'
import { useCan, useCanOn, useControl } from '../../app/control'
import { ControlErrorNotice, FormField, Section } from '../../components/admin'
import { EmptyState, Loading, PageHeader } from '../../components/ui'
import type { Tenant } from '../../lib/control/types'
import { useLifecycle } from './lifecycle'
import { CreateForm, StructureTable } from './parts'

export default function TenantsPage() {
  const { cp, tenants, me, selection, select } = useControl()
  const mayCreate = useCan('tenant.create', {})
  const canOn = useCanOn()
  const [region, setRegion] = useState<string | undefined>(undefined)
  const items = tenants.data?.items ?? []
  const life = useLifecycle<Tenant>({
    kind: 'tenant',
    mayRename: (t) => canOn('tenant.update', { tenant: t.id }),
    mayDelete: (t) => canOn('tenant.delete', { tenant: t.id }),
    rename: (t, name) => cp.renameTenant(t.id, name),
    remove: (t, confirm) => cp.deleteTenant(t.id, confirm),
    changed: () => tenants.reload(),
  })
  return (
    <div className="page">
      <PageHeader title="Tenants" description="Organisations, each pinned to one region." />
      {tenants.error ? <ControlErrorNotice error={tenants.error} what="tenants" /> : null}
      <Section title="Tenants">
        {tenants.loading && !tenants.data ? <Loading /> : null}
        {tenants.data && !items.length ? <EmptyState title="No tenants you can see" /> : null}
        {items.length ? (
          <StructureTable label="Tenants" rows={items} selected={selection.tenant?.id} onSelect={(id) => select('tenant', id)} actions={life.actions} />
        ) : null}
        {life.dialogs}
      </Section>
      {mayCreate ? (
        <Section title="New tenant">
          <CreateForm
            what="Tenant"
            onCreate={async (v) => {
              const t = await cp.createTenant({ ...v, region: region ?? me.data?.region ?? 'local' })
              await tenants.reload()
              select('tenant', t.id)
            }}
            extra={
              <FormField label="Region" htmlFor="tenant-region" hint="Never changes after creation">
                <input id="tenant-region" className="input" value={region ?? me.data?.region ?? ''} onChange={(e) => setRegion(e.target.value)} required />
              </FormField>
            }
          />
        </Section>
      ) : null}
    </div>
  )
}
