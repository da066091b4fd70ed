/**
 * Plugin tabs (`motia.config.*` plugins' `workbench: [...]`): one navigation entry per tab (after the runtime
 * pages: `top` tabs first, then `bottom` ones, each in declaration order), each at `plugin/<sha256 of its
 * script>`, rendering the tab's component in a sandboxed frame (components/PluginFrame.tsx).
 */
import { useParams } from 'react-router'
import { useApi } from '../app/context'
import { ErrorNotice } from '../components/ErrorNotice'
import type { NavItem } from '../components/Shell'
import { EmptyState, Loading, PageHeader } from '../components/ui'
import { PluginFrame } from '../components/PluginFrame'
import { useResource } from '../hooks/useResource'
import { ApiError } from '../lib/api/client'
import type { UiResponse } from '../lib/api/types'

const EMPTY: UiResponse = { tabs: [], nodes: {} }

/** `GET /ui`; a runtime without it (404) has no plugin UI. */
export function useUi() {
  const api = useApi()
  return useResource(async () => {
    try {
      return await api.ui()
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return EMPTY
      throw e
    }
  }, [api])
}

export function PluginIcon({ size = 18 }: { size?: number }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.8}
      strokeLinecap="round"
      aria-hidden="true"
      focusable="false"
    >
      <path d="M9 3v4M15 3v4M6 7h12v4a6 6 0 0 1-12 0zM12 17v4" />
    </svg>
  )
}

/** Navigation entries of the project's plugin tabs, under `prefix`. */
export function usePluginNav(prefix = ''): NavItem[] {
  const ui = useUi()
  const tabs = ui.data?.tabs ?? []
  const ordered = [...tabs.filter((t) => t.position !== 'bottom'), ...tabs.filter((t) => t.position === 'bottom')]
  return ordered.map((t) => ({ to: `${prefix}/plugin/${t.bundle}`, label: t.label, icon: PluginIcon }))
}

export default function PluginTabPage() {
  const { bundle } = useParams()
  const ui = useUi()
  if (ui.error) return <ErrorNotice error={ui.error} what="the plugin tabs" onRetry={ui.reload} />
  if (!ui.data) return <Loading />
  const tab = ui.data.tabs.find((t) => t.bundle === bundle)
  if (!tab)
    return <EmptyState title="No such plugin tab">No plugin of this project declares this tab (any more): its worker may have reloaded or stopped.</EmptyState>
  return (
    <section className="plugin-tab">
      <PageHeader title={tab.label} description={`Plugin ${tab.plugin}: its own code, run in a sandbox without access to this page or your credentials.`} />
      <PluginFrame bundle={tab.bundle} title={`Plugin tab ${tab.label}`} kind="tab" props={tab.props} minHeight={120} className="plugin-frame--tab" />
    </section>
  )
}
