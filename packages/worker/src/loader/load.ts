/**
 * `loadProject(dir)`: discovers, imports and validates every step and stream file of a project. A file that fails
 * (syntax error, throws while loading, missing exports, invalid config, unconvertible schema, duplicate name) is
 * reported as a `LoadError` naming the file and the key or reason; the other files still load.
 */
import { createRequire } from 'node:module'
import { relative, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { type AnyStepHandler, type ApiMiddleware, type StepConfig, type StreamConfig, validateStepConfig, type Zod4ToJsonSchema } from '@cfp/sdk'
import type { StepManifest, StreamManifest } from '../frame-types.js'
import { discoverFiles } from './discover.js'
import { clearRequireCache, installHooks, nativeImport } from './hooks.js'
import { ManifestError, schemaConverter, toManifest } from './manifest.js'
import { type LoadedPlugin, loadPlugins } from '../plugins/load.js'

export interface LoadedStep {
  /** What is registered with the runtime. */
  manifest: StepManifest
  /** The validated config (schemas and middleware as the file exported them). */
  config: StepConfig
  /** Absent only for noop steps. */
  handler?: AnyStepHandler
  middleware: ApiMiddleware<any, any, any>[]
  /** Absolute path of the step file. */
  path: string
}

export interface LoadedStream {
  manifest: StreamManifest
  config: StreamConfig
  path: string
}

export type LoadErrorCode = 'load_failed' | 'missing_export' | 'invalid_config' | 'invalid_schema' | 'duplicate_step'

export interface LoadError {
  /** Project-relative path of the file. */
  file: string
  code: LoadErrorCode
  /** The config key at fault, when there is one. */
  key?: string
  /** Readable message naming the file (and key). */
  message: string
}

export interface LoadResult {
  steps: LoadedStep[]
  streams: LoadedStream[]
  errors: LoadError[]
  /** The plugins of `motia.config.*` (their routes are in `steps`). */
  plugins?: LoadedPlugin[]
}

let generation = 0

/** Loads every step and stream file of the project in `dir`. Each call re-imports all project files. */
export async function loadProject(dir: string): Promise<LoadResult> {
  const root = resolve(dir)
  await installHooks()
  clearRequireCache(root)
  generation += 1
  const files = await discoverFiles(root)
  const zod4 = projectZod4(root)
  const result: LoadResult = { steps: [], streams: [], errors: [] }
  const byName = new Map<string, LoadedStep>()
  for (const path of files.steps) {
    const file = relPath(root, path)
    const loaded = await loadStep(path, file, generation, zod4, result.errors)
    if (!loaded) continue
    const other = byName.get(loaded.manifest.name)
    if (other) {
      result.errors.push({
        file,
        code: 'duplicate_step',
        key: 'name',
        message: `${file}: config.name: a step named '${loaded.manifest.name}' is already defined in ${other.manifest.file}; step names must be unique`,
      })
      continue
    }
    byName.set(loaded.manifest.name, loaded)
    result.steps.push(loaded)
  }
  for (const path of files.streams) {
    const stream = await loadStream(path, relPath(root, path), generation, zod4, result.errors)
    if (stream) result.streams.push(stream)
  }
  await loadPlugins(root, generation, result)
  return result
}

const relPath = (root: string, path: string): string => relative(root, path).split(sep).join('/')

async function importFile(path: string, file: string, gen: number, errors: LoadError[]): Promise<Record<string, unknown> | undefined> {
  const url = `${pathToFileURL(path).href}?cfpv=${gen}`
  try {
    return (await nativeImport(url)) as Record<string, unknown>
  } catch (err) {
    errors.push({ file, code: 'load_failed', message: `${file}: failed to load: ${describeLoadError(err, path)}` })
    return undefined
  }
}

/** `config`/`handler` from named exports, a default export holding them, or CommonJS `module.exports`. */
function pickExports(ns: Record<string, unknown>): Record<string, unknown> {
  if (ns.config !== undefined) return ns
  let d = ns.default as Record<string, unknown> | undefined
  for (let i = 0; i < 2 && d && typeof d === 'object'; i++) {
    if (d.config !== undefined) return d
    d = d.default as Record<string, unknown> | undefined
  }
  return ns
}

async function loadStep(path: string, file: string, gen: number, zod4: Zod4ToJsonSchema | undefined, errors: LoadError[]): Promise<LoadedStep | undefined> {
  const ns = await importFile(path, file, gen, errors)
  if (!ns) return undefined
  const exp = pickExports(ns)
  if (exp.config === undefined) {
    errors.push({
      file,
      code: 'missing_export',
      key: 'config',
      message: `${file}: does not export 'config' (expected 'export const config = { type, name, ... }' or a default export holding config and handler)`,
    })
    return undefined
  }
  const validated = validateStepConfig(exp.config, file)
  if (!validated.ok) {
    for (const e of validated.errors) errors.push({ file, code: 'invalid_config', key: e.key, message: e.message })
    return undefined
  }
  const config = validated.config
  const handler = exp.handler
  if (config.type !== 'noop' && typeof handler !== 'function') {
    errors.push({
      file,
      code: 'missing_export',
      key: 'handler',
      message: `${file}: does not export a 'handler' function (${config.type} step '${config.name}' needs one)`,
    })
    return undefined
  }
  let manifest: StepManifest
  try {
    manifest = toManifest(config, file, schemaConverter({ zod4ToJsonSchema: zod4 }))
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err
    errors.push({ file, code: 'invalid_schema', key: err.key, message: `${file}: config.${err.key}: ${err.message}` })
    return undefined
  }
  const step: LoadedStep = { manifest, config, middleware: config.type === 'api' ? [...(config.middleware ?? [])] : [], path }
  if (typeof handler === 'function') step.handler = handler as AnyStepHandler
  return step
}

const STREAM_KEYS = ['name', 'schema', 'baseConfig', 'canAccess']

async function loadStream(path: string, file: string, gen: number, zod4: Zod4ToJsonSchema | undefined, errors: LoadError[]): Promise<LoadedStream | undefined> {
  const ns = await importFile(path, file, gen, errors)
  if (!ns) return undefined
  const config = pickExports(ns).config as Record<string, unknown> | undefined
  const fail = (key: string, reason: string, code: LoadErrorCode = 'invalid_config'): undefined => {
    errors.push({ file, code, key, message: `${file}: config.${key}: ${reason}` })
    return undefined
  }
  if (typeof config !== 'object' || config === null)
    return fail('config', "a stream file must export 'config' = { name, schema, baseConfig }", 'missing_export')
  const unknown = Object.keys(config).find((k) => !STREAM_KEYS.includes(k))
  if (unknown) return fail(unknown, `unknown key '${unknown}' in a stream config; allowed keys: ${STREAM_KEYS.join(', ')}`)
  if (typeof config.name !== 'string' || config.name === '') return fail('name', 'must be a non-empty string')
  if (config.canAccess !== undefined && typeof config.canAccess !== 'function') return fail('canAccess', 'must be a function (subscription, authContext)')
  const base = config.baseConfig as { storageType?: unknown } | undefined
  if (!base || (base.storageType !== 'default' && base.storageType !== 'custom')) {
    return fail('baseConfig', "must be { storageType: 'default' } or { storageType: 'custom', factory }")
  }
  const manifest: StreamManifest = { name: config.name, file, storageType: base.storageType, hasCanAccess: typeof config.canAccess === 'function' }
  if (config.schema !== undefined) {
    try {
      manifest.schema = schemaConverter({ zod4ToJsonSchema: zod4 })(config.schema, 'schema', 'output')
    } catch (err) {
      return fail('schema', (err as Error).message, 'invalid_schema')
    }
  }
  return { manifest, config: config as unknown as StreamConfig, path }
}

/** zod 4's `toJSONSchema` as installed in the project (for zod 4 schemas without a `.toJSONSchema()` method). */
function projectZod4(root: string): Zod4ToJsonSchema | undefined {
  try {
    const core = createRequire(resolve(root, 'package.json'))('zod/v4/core') as { toJSONSchema?: Zod4ToJsonSchema }
    return typeof core.toJSONSchema === 'function' ? core.toJSONSchema : undefined
  } catch {
    return undefined
  }
}

/** The useful part of an import failure: esbuild's location for syntax errors, the thrown message otherwise. */
function describeLoadError(err: unknown, path: string): string {
  if (!(err instanceof Error)) return `threw a non-error value: ${String(err)}`
  const first = err.message.split('\n').filter(Boolean).slice(0, 3).join(' | ')
  const syntax = err.name === 'SyntaxError' || /Transform failed|Expected|Unexpected/.test(err.message)
  const where = !syntax ? stackFrameIn(err, path) : undefined
  return `${syntax ? 'syntax error: ' : `threw ${err.name}: `}${first}${where ? ` (at ${where})` : ''}`
}

function stackFrameIn(err: Error, path: string): string | undefined {
  const line = (err.stack ?? '').split('\n').find((l) => l.includes(path))
  const m = line?.match(/:(\d+):(\d+)\)?\s*$/)
  return m ? `line ${m[1]}` : undefined
}
