/** Teams of the selected tenant. Rename and delete per row where the matrix allows (`team.update`, `team.delete`). */
import { useCan, useCanOn, useControl, useScopes } from '../../app/control'
import { ControlErrorNotice, NeedSelection, Section } from '../../components/admin'
import { EmptyState, Loading, PageHeader } from '../../components/ui'
import type { Team } from '../../lib/control/types'
import { useLifecycle } from './lifecycle'
import { CreateForm, StructureTable } from './parts'

export default function TeamsPage() {
  const { cp, teams, selection, select } = useControl()
  const scopes = useScopes()
  const mayCreate = useCan('team.create', scopes.tenant)
  const canOn = useCanOn()
  const tenant = selection.tenant
  const items = teams.data?.items ?? []
  const life = useLifecycle<Team>({
    kind: 'team',
    mayRename: (t) => canOn('team.update', { tenant: t.tenantId, team: t.id }),
    mayDelete: (t) => canOn('team.delete', { tenant: t.tenantId, team: t.id }),
    rename: (t, name) => cp.renameTeam(t.id, name),
    remove: (t, confirm) => cp.deleteTeam(t.id, confirm),
    changed: () => teams.reload(),
  })
  if (!tenant) return <NeedSelection what="tenant" />
  return (
    <div className="page">
      <PageHeader title="Teams" description={`Teams of ${tenant.name}.`} />
      {teams.error ? <ControlErrorNotice error={teams.error} what="teams" /> : null}
      <Section title="Teams">
        {teams.loading && !teams.data ? <Loading /> : null}
        {teams.data && !items.length ? <EmptyState title="No teams you can see" /> : null}
        {items.length ? (
          <StructureTable label="Teams" rows={items} selected={selection.team?.id} onSelect={(id) => select('team', id)} actions={life.actions} />
        ) : null}
        {life.dialogs}
      </Section>
      {mayCreate ? (
        <Section title="New team">
          <CreateForm
            what="Team"
            onCreate={async (v) => {
              const t = await cp.createTeam(tenant.id, v)
              await teams.reload()
              select('team', t.id)
            }}
          />
        </Section>
      ) : null}
    </div>
  )
}
