/** Teams of the selected tenant. */
import { useCan, useControl, useScopes } from '../../app/control'
import { ControlErrorNotice, NeedSelection, Section } from '../../components/admin'
import { EmptyState, Loading, PageHeader } from '../../components/ui'
import { CreateForm, StructureTable } from './parts'

export default function TeamsPage() {
  const { cp, teams, selection, select } = useControl()
  const scopes = useScopes()
  const mayCreate = useCan('team.create', scopes.tenant)
  const tenant = selection.tenant
  if (!tenant) return <NeedSelection what="tenant" />
  const items = teams.data?.items ?? []
  return (
    <div className="page">
      <PageHeader title="Teams" description={`Teams of ${tenant.name}.`} />
      {teams.error ? <ControlErrorNotice error={teams.error} what="teams" /> : null}
      <Section title="Teams">
        {teams.loading && !teams.data ? <Loading /> : null}
        {teams.data && !items.length ? <EmptyState title="No teams you can see" /> : null}
        {items.length ? <StructureTable label="Teams" rows={items} selected={selection.team?.id} onSelect={(id) => select('team', id)} /> : null}
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
