/**
 * Motia's plugin API as CFP implements it (`motia.config.ts`): a plugin is a function of the plugin context
 * returning its workbench tabs. Names follow Motia 0.17's public types (`MotiaPlugin`, `MotiaPluginContext`,
 * `WorkbenchPlugin`, `Config`); what CFP does not provide is typed as absent and listed in docs/runtime-api.md
 * ("Motia plugins").
 */
import type { Logger } from './logger.js'
import type { ApiResponse, ApiRouteConfig, ApiRouteHandler, InternalStateManager } from './types.js'

/** A workbench tab a plugin declares. */
export type WorkbenchPlugin = {
  packageName: string
  componentName?: string
  label?: string
  labelIcon?: string
  position?: 'bottom' | 'top'
  cssImports?: string[]
  props?: Record<string, unknown>
}

export type MotiaPlugin = {
  workbench: WorkbenchPlugin[]
  dirname?: string
  /** Motia loads extra step files from the plugin's `dirname`; CFP does not (they are reported). */
  steps?: string[]
  onShutdown?: () => Promise<void>
}

export type PluginApiConfig = {
  method: ApiRouteConfig['method']
  path: string
}

export type UnregisterMotiaPluginApi = () => void

/** Motia's printer, reduced to the lines a plugin prints. */
export interface PluginPrinter {
  printPluginLog(message: string): void
  printPluginWarn(message: string): void
  printPluginError(message: string, ...args: unknown[]): void
}

export type MotiaPluginContext = {
  printer: PluginPrinter
  /**
   * The project's state while one of the plugin's routes runs (the route's `ctx.state`); outside a route's
   * handler a call throws, since CFP state is only reachable through an invocation.
   */
  state: InternalStateManager
  /** A logger whose lines go to the worker's output (the route handler's `ctx.logger` goes to the runtime's log). */
  logger: Logger
  registerApi: <TRequestBody = unknown, TResponseBody extends ApiResponse<number, unknown> = ApiResponse<number, unknown>, TEmitData = never>(
    config: PluginApiConfig,
    handler: ApiRouteHandler<TRequestBody, TResponseBody, TEmitData>,
  ) => UnregisterMotiaPluginApi
  /** Not provided by CFP (Motia internals): `undefined`. */
  lockedData?: undefined
  tracerFactory?: undefined
  eventAdapter?: undefined
}

export type MotiaPluginBuilder = (motia: MotiaPluginContext) => MotiaPlugin

/** `motia.config.ts`'s default export. CFP reads `plugins`; the other keys are accepted and ignored. */
export type Config = {
  /** Motia's Express customiser: not supported (CFP's HTTP server is the runtime's). */
  app?: (app: never) => void
  plugins?: MotiaPluginBuilder[]
  adapters?: Record<string, unknown>
  streamAuth?: Record<string, unknown>
  redis?: Record<string, unknown>
}
