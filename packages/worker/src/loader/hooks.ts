/**
 * Makes step files loadable without a build step, in CommonJS and ESM projects alike:
 * - tsx's ESM and CommonJS hooks compile TypeScript and resolve extensionless relative imports;
 * - a `module.register()` resolve hook maps the specifier `motia` to `@cfp/sdk/motia` (and, in `motia.config.*`,
 *   `@motiadev/core` too, and Motia's stock plugins `@motiadev/plugin-<name>/plugin` to CFP's stand-ins
 *   `@cfp/sdk/stock/<name>`, see ../plugins/), and copies the
 *   cache-busting `?cfpv=<generation>` query of a step file onto the project files it imports (not
 *   `node_modules`), so a reload re-evaluates changed helpers too;
 * - for `require('motia')` (CommonJS step files, which Node 20's hooks do not see) `Module._resolveFilename`
 *   is patched to a cache entry holding the same compat module.
 */
import Module, { createRequire, register } from 'node:module'
import { sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { constants, Script } from 'node:vm'
import { STOCK_PLUGINS } from '@cfp/sdk'

const require = createRequire(import.meta.url)

const RESOLVE_HOOK = `
let motiaUrl
let stock
export function initialize(data) { motiaUrl = data.motiaUrl; stock = data.stock }
function isConfigFile(url) {
  const name = (url || '').split('?')[0].split('/').pop()
  return ['ts', 'mts', 'cts', 'js', 'mjs', 'cjs'].some((ext) => name === 'motia.config.' + ext)
}
export async function resolve(specifier, context, next) {
  if (specifier === 'motia') return { url: motiaUrl, shortCircuit: true, format: 'module' }
  if (Object.hasOwn(stock, specifier)) return { url: stock[specifier], shortCircuit: true, format: 'module' }
  if (specifier === '@motiadev/core' && isConfigFile(context.parentURL)) {
    return { url: motiaUrl, shortCircuit: true, format: 'module' }
  }
  const r = await next(specifier, context)
  const parent = context.parentURL
  if (parent && parent.includes('cfpv=') && r.url.startsWith('file:') && !r.url.includes('/node_modules/')) {
    const v = new URL(parent).searchParams.get('cfpv')
    const u = new URL(r.url)
    if (v && !u.searchParams.has('cfpv')) {
      u.searchParams.set('cfpv', v)
      return { ...r, url: u.href }
    }
  }
  return r
}
`

let installed: Promise<void> | undefined

/** The file URL of the `motia` compatibility module. */
export function motiaCompatUrl(): string {
  return pathToFileURL(require.resolve('@cfp/sdk/motia')).href
}

/** Motia's stock plugin specifiers (`@motiadev/plugin-states/plugin`, …) → file URLs of CFP's stand-ins. */
export function stockPluginUrls(): Record<string, string> {
  const urls: Record<string, string> = {}
  for (const name of STOCK_PLUGINS) {
    const url = pathToFileURL(require.resolve(`@cfp/sdk/stock/${name}`)).href
    urls[`@motiadev/plugin-${name}/plugin`] = url
    urls[`@motiadev/plugin-${name}`] = url
  }
  return urls
}

/** Installs the loader hooks once per process. */
export function installHooks(): Promise<void> {
  installed ??= install()
  return installed
}

async function install(): Promise<void> {
  const motiaUrl = motiaCompatUrl()
  const stock = stockPluginUrls()
  const tsxEsm = (await import('tsx/esm/api')) as { register: () => unknown }
  const tsxCjs = (await import('tsx/cjs/api')) as { register: () => unknown }
  tsxEsm.register()
  tsxCjs.register()
  register(`data:text/javascript,${encodeURIComponent(RESOLVE_HOOK)}`, { parentURL: import.meta.url, data: { motiaUrl, stock } })

  // Each mapped module's real path, pre-cached as a CommonJS module holding the ESM namespace: Node 20 cannot
  // require() an ES module, and newer Node versions that route require() through the hooks land on the same file.
  type ModuleInternals = typeof Module & {
    _cache: Record<string, unknown>
    _resolveFilename: (request: string, ...rest: unknown[]) => string
  }
  const M = Module as ModuleInternals
  const cjsIds = new Map<string, string>()
  for (const [request, url] of [['motia', motiaUrl], ...Object.entries(stock)] as Array<[string, string]>) {
    const cjsId = fileURLToPath(url)
    const shim = new Module(cjsId)
    shim.filename = cjsId
    shim.loaded = true
    shim.exports = (await nativeImport(url)) as Record<string, unknown>
    M._cache[cjsId] = shim
    cjsIds.set(request, cjsId)
  }
  const original = M._resolveFilename
  M._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    return cjsIds.get(request) ?? original.call(this, request, ...rest)
  }
}

type Importer = (url: string) => Promise<unknown>
const viaFunction = new Function('url', 'return import(url)') as Importer
let viaVm: Importer | undefined

/**
 * `import()` performed by Node's own loader (not by a bundler or test runner that rewrites `import()`), so the
 * hooks above apply. Inside a runner that evaluates modules through `vm` without an import callback (vitest),
 * `import()` from `new Function` fails; then a `vm.Script` bound to the main context's default loader is used.
 */
export async function nativeImport(url: string): Promise<unknown> {
  if (viaVm) return viaVm(url)
  try {
    return await viaFunction(url)
  } catch (err) {
    // Missing before Node 20.12.
    const loader = constants.USE_MAIN_CONTEXT_DEFAULT_LOADER as typeof constants.USE_MAIN_CONTEXT_DEFAULT_LOADER | undefined
    if ((err as NodeJS.ErrnoException).code !== 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING' || !loader) throw err
    viaVm = new Script('(url) => import(url)', { filename: 'cfp-native-import.js', importModuleDynamically: loader }).runInThisContext() as Importer
    return viaVm(url)
  }
}

/** Forgets the CommonJS modules of the project in `dir` (not its node_modules), so the next load re-runs them. */
export function clearRequireCache(dir: string): void {
  const prefix = dir.endsWith(sep) ? dir : dir + sep
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(prefix) && !key.includes(`${sep}node_modules${sep}`)) delete require.cache[key]
  }
}
