/**
 * Projects of the selected team (they inherit the tenant's region). Rename and delete per row where the matrix
 * allows (`project.update`, `project.delete`); after a deletion the switcher falls back to another project, or none.
 */
import { Link } from 'react-router'
import { useCan, useCanOn, useControl, useScopes } from '../../app/control'
import { ControlErrorNotice, NeedSelection, Section } from '../../components/admin'
import { EmptyState, Loading, PageHeader } from '../../components/ui'
import type { Project } from '../../lib/control/types'
import { useLifecycle } from './lifecycle'
import { CreateForm, StructureTable } from './parts'

export default function ProjectsPage() {
  const { cp, projects, selection, select } = useControl()
  const scopes = useScopes()
  const mayCreate = useCan('project.create', scopes.team)
  const canOn = useCanOn()
  const team = selection.team
  const items = projects.data?.items ?? []
  const life = useLifecycle<Project>({
    kind: 'project',
    mayRename: (p) => canOn('project.update', { tenant: p.tenantId, team: p.teamId, project: p.id }),
    mayDelete: (p) => canOn('project.delete', { tenant: p.tenantId, team: p.teamId, project: p.id }),
    rename: (p, name) => cp.renameProject(p.id, name),
    remove: (p, confirm) => cp.deleteProject(p.id, confirm),
    changed: () => projects.reload(),
  })
  if (!team) return <NeedSelection what="team" />
  return (
    <div className="page">
      <PageHeader title="Projects" description={`Projects of team ${team.name}.`} />
      {projects.error ? <ControlErrorNotice error={projects.error} what="projects" /> : null}
      <Section title="Projects">
        {projects.loading && !projects.data ? <Loading /> : null}
        {projects.data && !items.length ? <EmptyState title="No projects you can see" /> : null}
        {items.length ? (
          <StructureTable label="Projects" rows={items} selected={selection.project?.id} onSelect={(id) => select('project', id)} actions={life.actions} />
        ) : null}
        {life.dialogs}
        {selection.project ? (
          <p className="small">
            <Link to={`/p/${encodeURIComponent(selection.project.id)}/flows`}>Open the runtime pages of {selection.project.name}</Link> (flows, endpoints, logs,
            traces, state, streams, queues).
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
