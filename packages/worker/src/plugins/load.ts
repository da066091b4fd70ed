/**
 * Motia's plugins on CFP: each builder of `motia.config.*`'s `plugins` is called with a plugin context
 * (`registerApi`, `state`, `logger`, `printer`); every route it registers becomes an API step of the worker's
 * manifest (named `plugin <plugin>: <METHOD> <path>`, file = the plugin's file, flow `_plugin`), served by the
 * runtime like any API step — under `/__motia/` gated as a diagnostic endpoint (docs/runtime-api.md). The tabs a
 * plugin declares are kept in `LoadResult.plugins`. A plugin that throws (or returns something malformed) is
 * reported with its file and contributes nothing; the other plugins and every step still load.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { resolve, sep } from 'node:path'
import {
  type AnyStepHandler,
  type ApiRouteConfig,
  type FlowContext,
  type InternalStateManager,
  Logger,
  type MotiaPluginBuilder,
  type MotiaPluginContext,
  type PluginApiConfig,
  type StockPlugin,
  validateStepConfig,
  type WorkbenchPlugin,
} from '@cfp/sdk'
import type { LoadError, LoadedStep, LoadResult } from '../loader/load.js'
import { toManifest } from '../loader/manifest.js'
import { projectFrame, readMotiaConfig } from './config.js'

export interface LoadedPlugin {
  /** The builder's function name, else `plugins[i]`. */
  name: string
  /** Project-relative file of the plugin (where its builder registered routes or threw), else the config file. */
  file: string
  workbench: Array<WorkbenchPlugin & { cfpBuiltin?: StockPlugin }>
  /** Names of the API steps its routes became. */
  routes: string[]
}

/** Keys of a workbench tab descriptor (Motia's `WorkbenchPlugin`, plus CFP's `cfpBuiltin` on its stand-ins). */
const TAB_KEYS = ['packageName', 'componentName', 'label', 'labelIcon', 'position', 'cssImports', 'props', 'cfpBuiltin']
/** At most this many routes per plugin, and tabs per plugin (a builder looping forever on registerApi is cut off). */
const MAX_ROUTES = 256
const MAX_TABS = 32
/** How long an async plugin function may take to resolve (tests shorten it). */
export const pluginLoad = { timeoutMs: 10_000 }

/** The invocation context of the plugin route running now: what `motia.state` of the plugin context reaches. */
const current = new AsyncLocalStorage<FlowContext<unknown>>()

/** Reads `motia.config.*` of the project at `root` and adds its plugins' routes to `result.steps`. */
export async function loadPlugins(root: string, gen: number, result: LoadResult): Promise<void> {
  result.plugins = []
  const config = await readMotiaConfig(root, gen, result.errors)
  if (!config) return
  const taken = new Map(result.steps.map((s) => [s.manifest.name, s.manifest.file]))
  for (const [i, builder] of config.plugins.entries()) {
    const loaded = await runBuilder(root, config.file, builder, i, result.errors)
    if (!loaded) continue
    const { plugin, steps } = loaded
    const clash = steps.find((s) => taken.has(s.manifest.name))
    if (clash) {
      result.errors.push({
        file: plugin.file,
        code: 'duplicate_step',
        key: `plugins[${i}]`,
        message: `${plugin.file}: plugin ${plugin.name}: '${clash.manifest.name}' is registered twice (also in ${taken.get(clash.manifest.name)})`,
      })
      continue
    }
    for (const s of steps) taken.set(s.manifest.name, s.manifest.file)
    result.steps.push(...steps)
    result.plugins.push(plugin)
  }
}

async function runBuilder(
  root: string,
  configFile: string,
  builder: MotiaPluginBuilder,
  i: number,
  errors: LoadError[],
): Promise<{ plugin: LoadedPlugin; steps: LoadedStep[] } | undefined> {
  const name = builder.name && builder.name !== 'default' ? builder.name : `plugins[${i}]`
  const key = `plugins[${i}]`
  const routes: Array<{ config: PluginApiConfig; handler: unknown; file: string }> = []
  let file: string | undefined
  let open = true
  const prefix = `[plugin ${name}]`
  const context: MotiaPluginContext = {
    printer: {
      printPluginLog: (m) => console.error(`${prefix} ${m}`),
      printPluginWarn: (m) => console.error(`${prefix} warning: ${m}`),
      printPluginError: (m, ...args) => console.error(`${prefix} error: ${m}`, ...args),
    },
    logger: new Logger({ plugin: name }),
    state: pluginState(name),
    registerApi: (apiConfig, handler) => {
      if (!open) throw new Error(`plugin ${name}: registerApi was called after the plugin was loaded; register routes while the plugin function runs`)
      if (routes.length >= MAX_ROUTES) throw new Error(`plugin ${name}: more than ${MAX_ROUTES} routes`)
      if (typeof handler !== 'function') throw new TypeError(`plugin ${name}: registerApi(config, handler): handler must be a function`)
      file ??= projectFrame(new Error(), root)?.file
      const entry = { config: apiConfig, handler, file: file ?? configFile }
      routes.push(entry)
      return () => {
        if (!open) return
        const at = routes.indexOf(entry)
        if (at >= 0) routes.splice(at, 1)
      }
    },
  }
  const fail = (err: unknown, what: string): undefined => {
    const where = err instanceof Error ? projectFrame(err, root) : undefined
    const at = where?.file ?? file ?? configFile
    const msg = err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err)
    errors.push({
      file: at,
      code: 'load_failed',
      key,
      message: `${at}: plugin ${name} (${configFile} ${key}) ${what}: ${msg}${where?.line ? ` (line ${where.line})` : ''}`,
    })
    return undefined
  }
  let out: unknown
  try {
    out = await withDeadline(builder(context), name)
  } catch (err) {
    return fail(err, 'threw while loading')
  } finally {
    open = false
  }
  const at: string = file ?? configFile
  const bad = (k: string, reason: string): undefined => {
    errors.push({ file: at, code: 'invalid_config', key: `${key}.${k}`, message: `${at}: plugin ${name} (${configFile} ${key}): ${k}: ${reason}` })
    return undefined
  }
  if (typeof out !== 'object' || out === null) return bad('return', 'a plugin must return { workbench: [...] }')
  const plugin = out as Record<string, unknown>
  if (plugin.workbench !== undefined && !Array.isArray(plugin.workbench)) return bad('workbench', 'must be an array of tab descriptors')
  const tabs = (plugin.workbench ?? []) as unknown[]
  if (tabs.length > MAX_TABS) return bad('workbench', `at most ${MAX_TABS} tabs`)
  for (const [t, tab] of tabs.entries()) {
    const problem = tabProblem(tab)
    if (problem) return bad(`workbench[${t}].${problem.key}`, problem.reason)
  }
  if (Array.isArray(plugin.steps) && plugin.steps.length > 0) {
    return bad('steps', "plugin step files are not supported by CFP; put the plugin's steps under the project's steps/ directory")
  }
  const steps: LoadedStep[] = []
  for (const route of routes) {
    const step = routeStep(root, name, route)
    if (typeof step === 'string') return bad(`registerApi(${JSON.stringify(route.config?.path ?? null)})`, step)
    steps.push(step)
  }
  return {
    plugin: { name, file: at, workbench: tabs as LoadedPlugin['workbench'], routes: steps.map((s) => s.manifest.name) },
    steps,
  }
}

/** A builder's result; an async one must settle within `pluginLoad.timeoutMs` (or the load would hang). */
async function withDeadline<T>(out: T | Promise<T>, name: string): Promise<T> {
  if (!(out instanceof Promise)) return out
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    const ms = pluginLoad.timeoutMs
    timer = setTimeout(() => reject(new Error(`plugin ${name} did not finish loading within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([out, late])
  } finally {
    clearTimeout(timer)
  }
}

function tabProblem(tab: unknown): { key: string; reason: string } | undefined {
  if (typeof tab !== 'object' || tab === null || Array.isArray(tab))
    return { key: 'packageName', reason: 'a tab must be an object { packageName, label, ... }' }
  const t = tab as Record<string, unknown>
  const unknown = Object.keys(t).find((k) => !TAB_KEYS.includes(k))
  if (unknown) return { key: unknown, reason: `unknown key; a tab has ${TAB_KEYS.slice(0, -1).join(', ')}` }
  if (typeof t.packageName !== 'string' || t.packageName === '') return { key: 'packageName', reason: 'must be a non-empty string' }
  for (const k of ['componentName', 'label', 'labelIcon'] as const) {
    if (t[k] !== undefined && typeof t[k] !== 'string') return { key: k, reason: 'must be a string' }
  }
  if (t.position !== undefined && t.position !== 'top' && t.position !== 'bottom') return { key: 'position', reason: "must be 'top' or 'bottom'" }
  if (t.cssImports !== undefined && !(Array.isArray(t.cssImports) && t.cssImports.every((c) => typeof c === 'string'))) {
    return { key: 'cssImports', reason: 'must be an array of strings' }
  }
  return undefined
}

/** A registered route as an API step, or why it cannot be one. */
function routeStep(root: string, plugin: string, route: { config: PluginApiConfig; handler: unknown; file: string }): LoadedStep | string {
  const c = route.config as unknown
  if (typeof c !== 'object' || c === null) return 'the first argument must be { method, path }'
  const { method, path } = c as Record<string, unknown>
  if (typeof path === 'string' && (path === '/__cfp' || path.startsWith('/__cfp/'))) return `paths under /__cfp are the runtime's own`
  const config = {
    type: 'api',
    name: `plugin ${plugin}: ${String(method).toUpperCase()} ${String(path)}`,
    path,
    method: typeof method === 'string' ? method.toUpperCase() : method,
    emits: [],
    flows: ['_plugin'],
  }
  const validated = validateStepConfig(config, route.file)
  if (!validated.ok) return validated.errors.map((e) => `${e.key}: ${e.message}`).join('; ')
  const handler = route.handler as (req: unknown, ctx: FlowContext<unknown>) => unknown
  const wrapped = ((req: unknown, ctx: FlowContext<unknown>) => current.run(ctx, () => handler(req, ctx))) as AnyStepHandler
  const manifest = toManifest(validated.config, route.file, () => {
    throw new Error('plugin routes have no schemas')
  })
  return {
    manifest,
    config: validated.config as ApiRouteConfig,
    handler: wrapped,
    middleware: [],
    path: resolve(root, route.file.split('/').join(sep)),
  }
}

/** `motia.state`: the running plugin route's `ctx.state` (CFP's state is reached through an invocation). */
function pluginState(plugin: string): InternalStateManager {
  const state = (): InternalStateManager => {
    const ctx = current.getStore()
    if (!ctx) throw new Error(`plugin ${plugin}: motia.state is only available while one of the plugin's routes runs (use the route handler's ctx.state)`)
    return ctx.state
  }
  return {
    get: (group, key) => state().get(group, key),
    set: (group, key, value) => state().set(group, key, value),
    delete: (group, key) => state().delete(group, key),
    getGroup: (group) => state().getGroup(group),
    clear: (group) => state().clear(group),
  }
}
