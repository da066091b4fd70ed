/**
 * The runtime pages of one project when the control plane serves the workbench: `/__cfp/p/<project>/…`. The
 * project comes from the URL (and becomes the switcher's selection); its region picks the runtime from the
 * control plane's `runtimes`; calls carry the session's access token and the project id; controls follow the
 * caller's bindings (the runtime enforces regardless). Choosing another project in the switcher moves the URL.
 */
import { useEffect, useMemo, useRef } from 'react'
import { Link, useLocation, useNavigate, useParams } from 'react-router'
import { LiveIndicator, NAV, type NavItem, Shell } from '../components/Shell'
import { Switcher } from '../components/Switcher'
import { ControlErrorNotice } from '../components/admin'
import { StateIcon } from '../components/Icons'
import { EmptyState, Loading } from '../components/ui'
import { useResource } from '../hooks/useResource'
import { remoteRuntime, runtimeFor } from '../lib/api/location'
import { POLICY, runtimeCan } from '../lib/control/permissions'
import { RuntimeRoutes } from './App'
import { AppProviders, type RuntimeScope } from './context'
import { usePluginNav } from '../pages/PluginTabPage'
import { useControl } from './control'

/** The runtime pages' navigation under `/p/<project>`, and the way back to the admin pages. */
export function projectNav(prefix: string): NavItem[] {
  return [...NAV.map((n) => ({ ...n, to: `${prefix}${n.to}` })), { to: '/admin/projects', label: 'Admin pages', icon: StateIcon }]
}

export function ProjectRuntime({ runtimes, account }: { runtimes: Record<string, string>; account: React.ReactNode }) {
  const { projectId = '' } = useParams()
  const { cp, me, session, selection, choose } = useControl()
  const navigate = useNavigate()
  const location = useLocation()
  const prefix = `/p/${encodeURIComponent(projectId)}`
  const known = selection.project?.id === projectId ? selection.project : undefined
  const fetched = useResource(() => cp.project(projectId), [cp, projectId], { enabled: !known })
  const project = known ?? fetched.data

  // the URL's project becomes the selection once; afterwards a selection made in the switcher moves the URL
  const aligned = useRef<string | undefined>(undefined)
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the project or the selection changes, not on every navigation
  useEffect(() => {
    if (!project || project.id !== projectId) return
    if (selection.project?.id === projectId) aligned.current = projectId
    else if (aligned.current !== projectId) choose(project)
    else if (selection.project) {
      const rest = location.pathname.slice(prefix.length) || '/flows'
      navigate(`/p/${encodeURIComponent(selection.project.id)}${rest.startsWith('/traces/') ? '/traces' : rest}`)
    }
  }, [project, projectId, selection.project?.id])

  const runtimeUrl = runtimeFor(runtimes, project?.region)
  const path = project ? { tenant: project.tenantId, team: project.teamId, project: project.id } : undefined
  // biome-ignore lint/correctness/useExhaustiveDependencies: `path` is rebuilt every render; its project id identifies it
  const scope = useMemo<RuntimeScope>(
    () => ({ prefix, remote: true, can: path ? runtimeCan(POLICY, me.data, path) : () => false }),
    [prefix, me.data, path?.project],
  )
  const region = project?.region
  const client = useMemo(() => (runtimeUrl ? remoteRuntime(runtimeUrl, projectId, session, region) : undefined), [runtimeUrl, projectId, session, region])

  const top = (
    <>
      <Switcher />
      {project ? (
        <p className="project-bar small muted" data-testid="project-bar">
          <strong>{project.name}</strong> · region {project.region}
          {runtimeUrl ? (
            <>
              {' '}
              · runtime <code>{runtimeUrl}</code>
            </>
          ) : null}
        </p>
      ) : null}
    </>
  )
  const nav = projectNav(prefix)

  if (!project || !client) {
    let body
    if (fetched.error && !project) body = <ControlErrorNotice error={fetched.error} what="the project" />
    else if (!project) body = <Loading />
    else
      body = (
        <EmptyState title="No runtime configured for this region">
          Project {project.name} lives in region <code>{project.region}</code>, and the control plane names no runtime for it. An operator adds one with{' '}
          <code>--runtime-urls {project.region}=https://…</code> (or <code>CFP_CONTROL_RUNTIME_URLS</code>); the runtime needs{' '}
          <code>--workbench-origins {window.location.origin}</code>. <Link to="/admin/projects">Back to the admin pages</Link>.
        </EmptyState>
      )
    return (
      <Shell nav={nav} home="/admin/tenants" status={account} top={top}>
        {body}
      </Shell>
    )
  }
  return (
    <AppProviders key={`${runtimeUrl} ${projectId}`} client={client} scope={scope}>
      <PluginShell
        nav={nav}
        prefix={prefix}
        home="/admin/tenants"
        status={
          <>
            <LiveIndicator />
            {account}
          </>
        }
        top={top}
      >
        <RuntimeRoutes />
      </PluginShell>
    </AppProviders>
  )
}

/** The Shell with the project's plugin tabs added to its navigation (before the way back to the admin pages). */
function PluginShell({ nav, prefix, ...rest }: Parameters<typeof Shell>[0] & { nav: NavItem[]; prefix: string }) {
  const plugins = usePluginNav(prefix)
  return <Shell nav={[...nav.slice(0, -1), ...plugins, ...nav.slice(-1)]} {...rest} />
}
