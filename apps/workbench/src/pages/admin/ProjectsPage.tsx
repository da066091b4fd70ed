/** Projects of the selected team (they inherit the tenant's region). */
import { Link } from 'react-router'
import { useCan, useControl, useScopes } from '../../app/control'
import { ControlErrorNotice, NeedSelection, Section } from '../../components/admin'
import { EmptyState, Loading, PageHeader } from '../../components/ui'
import { CreateForm, StructureTable } from './parts'

export default function ProjectsPage() {
  const { cp, projects, selection, select } = useControl()
  const scopes = useScopes()
  const mayCreate = useCan('project.create', scopes.team)
  const team = selection.team
  if (!team) return <NeedSelection what="team" />
  const items = projects.data?.items ?? []
  return (
    <div className="page">
      <PageHeader title="Projects" description={`Projects of team ${team.name}.`} />
      {projects.error ? <ControlErrorNotice error={projects.error} what="projects" /> : null}
      <Section title="Projects">
        {projects.loading && !projects.data ? <Loading /> : null}
        {projects.data && !items.length ? <EmptyState title="No projects you can see" /> : null}
        {items.length ? <StructureTable label="Projects" rows={items} selected={selection.project?.id} onSelect={(id) => select('project', id)} /> : null}
        {selection.project ? (
          <p className="small">
            <Link to={`/p/${encodeURIComponent(selection.project.id)}/flows`}>Open the runtime pages of {selection.project.name}</Link> (flows,
            endpoints, logs, traces, state, streams, queues).
          </p>
        ) : null}
      </Section>
      {mayCreate ? (
        <Section title="New project">
          <CreateForm
            what="Project"
            onCreate={async (v) => {
              const p = await cp.createProject(team.id, v)
              await projects.reload()
              select('project', p.id)
            }}
          />
        </Section>
      ) : null}
    </div>
  )
}
