/**
 * Routes of the runtime pages (under the `/__cfp/` base when the runtime serves the workbench, under
 * `/__cfp/p/<project>/` when the control plane does). Paths are relative so both can mount them. Pages are
 * code-split: the flow graph is the heavy one.
 */
import { lazy, type ReactNode, Suspense } from 'react'
import { Navigate, Route, Routes } from 'react-router'
import { NAV, Shell } from '../components/Shell'
import { usePluginNav } from '../pages/PluginTabPage'
import { EmptyState, Loading } from '../components/ui'

const FlowsPage = lazy(() => import('../pages/flows/FlowsPage'))
const EndpointsPage = lazy(() => import('../pages/EndpointsPage'))
const LogsPage = lazy(() => import('../pages/LogsPage'))
const TracesPage = lazy(() => import('../pages/TracesPage'))
const TraceDetailPage = lazy(() => import('../pages/TraceDetailPage'))
const StatePage = lazy(() => import('../pages/StatePage'))
const StreamsPage = lazy(() => import('../pages/StreamsPage'))
const QueuesPage = lazy(() => import('../pages/QueuesPage'))
const UsagePage = lazy(() => import('../pages/UsagePage'))
const PluginTabPage = lazy(() => import('../pages/PluginTabPage'))
const MetricsPage = lazy(() => import('../pages/MetricsPage'))
const AuditPage = lazy(() => import('../pages/AuditPage'))

/** Admin pages exist only where the control plane serves the workbench (lib/mode.ts). */
function NoControlPlane() {
  return (
    <EmptyState title="No control plane here">
      This workbench is served by a runtime (<code>cfp dev</code>), which has no tenants, teams or sign-in. Tenants, projects, members and access are managed in
      the workbench the control plane serves: open
      <code> http://&lt;control plane&gt;/__cfp/</code>.
    </EmptyState>
  )
}

/** The runtime pages, relative to where they are mounted; `extra` routes come before the catch-all. */
export function RuntimeRoutes({ extra }: { extra?: ReactNode }) {
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
        <Route index element={<Navigate to="flows" replace />} />
        <Route path="flows" element={<FlowsPage />} />
        <Route path="flows/:flow" element={<FlowsPage />} />
        <Route path="endpoints" element={<EndpointsPage />} />
        <Route path="logs" element={<LogsPage />} />
        <Route path="traces" element={<TracesPage />} />
        <Route path="traces/:traceId" element={<TraceDetailPage />} />
        <Route path="state" element={<StatePage />} />
        <Route path="streams" element={<StreamsPage />} />
        <Route path="queues" element={<QueuesPage />} />
        <Route path="metrics" element={<MetricsPage />} />
        <Route path="metrics/:step" element={<MetricsPage />} />
        <Route path="audit" element={<AuditPage />} />
        <Route path="usage" element={<UsagePage />} />
        <Route path="plugin/:bundle" element={<PluginTabPage />} />
        {extra}
        <Route path="*" element={<EmptyState title="Page not found">There is no workbench page at this address.</EmptyState>} />
      </Routes>
    </Suspense>
  )
}

export function App() {
  const plugins = usePluginNav()
  return (
    <Shell nav={[...NAV, ...plugins]}>
      <RuntimeRoutes
        extra={
          <>
            <Route path="login" element={<NoControlPlane />} />
            <Route path="admin/*" element={<NoControlPlane />} />
          </>
        }
      />
    </Shell>
  )
}
