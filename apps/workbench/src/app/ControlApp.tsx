/**
 * The workbench as served by the control plane: the login page and the admin pages (tenants, teams,
 * projects, members, role bindings, identity providers, credentials, limits, project settings) behind a
 * sign-in, and the runtime pages (flows, logs, …) of a project under `/p/<project>/`, talking to the runtime
 * of its region.
 */
import { lazy, Suspense, useEffect, useState } from 'react'
import { Navigate, Route, Routes, useLocation } from 'react-router'
import { Shell, type NavItem } from '../components/Shell'
import { Switcher } from '../components/Switcher'
import { AuditIcon, EndpointsIcon, EventIcon, FlowsIcon, LogsIcon, QueuesIcon, StateIcon, StreamsIcon, TracesIcon } from '../components/Icons'
import { EmptyState, Loading } from '../components/ui'
import { ControlProviders, useControl } from './control'
import { ProjectRuntime } from './ProjectRuntime'

const LoginPage = lazy(() => import('../pages/LoginPage'))
const TenantsPage = lazy(() => import('../pages/admin/TenantsPage'))
const TeamsPage = lazy(() => import('../pages/admin/TeamsPage'))
const ProjectsPage = lazy(() => import('../pages/admin/ProjectsPage'))
const MembersPage = lazy(() => import('../pages/admin/MembersPage'))
const AccessPage = lazy(() => import('../pages/admin/AccessPage'))
const CredentialsPage = lazy(() => import('../pages/admin/CredentialsPage'))
const LimitsPage = lazy(() => import('../pages/admin/LimitsPage'))
const SettingsPage = lazy(() => import('../pages/admin/SettingsPage'))
const IdentityProvidersPage = lazy(() => import('../pages/admin/IdentityProvidersPage'))
const AuditPage = lazy(() => import('../pages/admin/AuditPage'))

export const ADMIN_NAV: readonly NavItem[] = [
  { to: '/admin/tenants', label: 'Tenants', icon: FlowsIcon },
  { to: '/admin/teams', label: 'Teams', icon: StreamsIcon },
  { to: '/admin/projects', label: 'Projects', icon: StateIcon },
  { to: '/admin/members', label: 'Members', icon: LogsIcon },
  { to: '/admin/access', label: 'Role bindings', icon: TracesIcon },
  { to: '/admin/idps', label: 'Identity providers', icon: EventIcon },
  { to: '/admin/credentials', label: 'API keys & tokens', icon: EndpointsIcon },
  { to: '/admin/limits', label: 'Limits', icon: QueuesIcon },
  { to: '/admin/settings', label: 'Project settings', icon: StateIcon },
  { to: '/admin/audit', label: 'Audit log', icon: AuditIcon },
]

export const ADMIN_PATHS = ADMIN_NAV.map((n) => n.to)

function Account() {
  const { session } = useControl()
  return (
    <button
      type="button"
      className="btn btn--small"
      onClick={() => void session.logout().then((r) => r.idpLogoutUrl && window.location.assign(r.idpLogoutUrl))}
    >
      Log out
    </button>
  )
}

/** Signs in again from this tab's refresh token after a reload, then shows the page or sends to the login. */
function RequireSession({ children }: { children: React.ReactNode }) {
  const { session, state } = useControl()
  const location = useLocation()
  const [resuming, setResuming] = useState(() => state === 'anonymous' && session.canResume())
  useEffect(() => {
    if (!resuming) return
    let live = true
    void session.resume().finally(() => live && setResuming(false))
    return () => {
      live = false
    }
  }, [resuming, session])
  if (resuming) return <Loading label="Signing in…" />
  if (state !== 'signed-in') return <Navigate to={`/login?next=${encodeURIComponent(location.pathname)}`} replace />
  return <>{children}</>
}

function AdminRoutes() {
  return (
    <RequireSession>
      <Shell nav={ADMIN_NAV} home="/admin/tenants" status={<Account />} top={<Switcher />}>
        <Suspense fallback={<Loading />}>
          <Routes>
            <Route path="tenants" element={<TenantsPage />} />
            <Route path="teams" element={<TeamsPage />} />
            <Route path="projects" element={<ProjectsPage />} />
            <Route path="members" element={<MembersPage />} />
            <Route path="access" element={<AccessPage />} />
            <Route path="idps" element={<IdentityProvidersPage />} />
            <Route path="credentials" element={<CredentialsPage />} />
            <Route path="limits" element={<LimitsPage />} />
            <Route path="settings" element={<SettingsPage />} />
            <Route path="audit" element={<AuditPage />} />
            <Route path="*" element={<Navigate to="/admin/tenants" replace />} />
          </Routes>
        </Suspense>
      </Shell>
    </RequireSession>
  )
}

export function ControlApp({ runtimes = {} }: { runtimes?: Record<string, string> }) {
  return (
    <ControlProviders>
      <Suspense fallback={<Loading />}>
        <Routes>
          <Route index element={<Navigate to="/admin/tenants" replace />} />
          <Route path="/login" element={<LoginPage />} />
          <Route path="/admin/*" element={<AdminRoutes />} />
          <Route
            path="/p/:projectId/*"
            element={
              <RequireSession>
                <ProjectRuntime runtimes={runtimes} account={<Account />} />
              </RequireSession>
            }
          />
          <Route
            path="*"
            element={
              <main className="main">
                <EmptyState title="Pick a project first">
                  Flows, logs, traces, state and queues belong to a project: they are at <code>/__cfp/p/&lt;project&gt;/flows</code>. Choose the project in the
                  switcher of the <a href="/__cfp/admin/projects">admin pages</a> and open its runtime pages.
                </EmptyState>
              </main>
            }
          />
        </Routes>
      </Suspense>
    </ControlProviders>
  )
}
