/**
 * CFP's stand-ins for Motia's stock plugins (`@motiadev/plugin-states/plugin`, …): the worker maps those imports
 * of a `motia.config.ts` here. The runtime serves their HTTP endpoints itself (`/__motia/state…`, docs/runtime-api.md),
 * and the workbench has built-in views for them, so each only declares its tab (marked `cfpBuiltin`).
 */
import type { MotiaPlugin, WorkbenchPlugin } from '../plugin-types.js'

export type StockPlugin = 'states' | 'endpoint' | 'logs' | 'observability' | 'bullmq' | 'cron' | 'streams' | 'ws' | 'example'

const TABS: Record<StockPlugin, Omit<WorkbenchPlugin, 'packageName'>> = {
  states: { label: 'States', position: 'bottom', componentName: 'StatesPage', labelIcon: 'file' },
  endpoint: { label: 'Endpoints', position: 'top', componentName: 'EndpointsPage', labelIcon: 'link-2' },
  logs: { label: 'Logs', position: 'bottom', componentName: 'LogsPage', labelIcon: 'logs' },
  observability: { label: 'Tracing', position: 'bottom', componentName: 'ObservabilityPage', labelIcon: 'gantt-chart' },
  bullmq: { label: 'Queues', position: 'bottom', componentName: 'QueuesPage', labelIcon: 'layers' },
  cron: { label: 'Cron', position: 'bottom', componentName: 'CronJobsPage', labelIcon: 'clock' },
  streams: { label: 'Streams', position: 'bottom', componentName: 'StreamsPage', labelIcon: 'radio' },
  ws: { label: 'WebSockets', position: 'bottom', componentName: 'WebSocketsPage', labelIcon: 'plug' },
  example: { label: 'Example', position: 'bottom', componentName: 'ExamplePage', labelIcon: 'sparkles' },
}

export type StockWorkbenchPlugin = WorkbenchPlugin & { cfpBuiltin: StockPlugin }

/** The plugin builder standing for `@motiadev/plugin-<name>`. */
export function stockPlugin(name: StockPlugin): () => MotiaPlugin {
  const builder = (): MotiaPlugin => {
    const tab: StockWorkbenchPlugin = { packageName: `@motiadev/plugin-${name}`, ...TABS[name], cfpBuiltin: name }
    return { workbench: [tab] }
  }
  Object.defineProperty(builder, 'name', { value: `@motiadev/plugin-${name}` })
  return builder
}

export const STOCK_PLUGINS = Object.keys(TABS) as StockPlugin[]
