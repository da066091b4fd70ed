/**
 * Reads a project's `motia.config.ts` (or `.mts`, `.js`, `.mjs`, `.cjs`): its default export (ESM), or
 * `module.exports` (CommonJS, plugins `require`d). A malformed config is reported naming the file and the key;
 * the project's steps load regardless.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { MotiaPluginBuilder } from '@cfp/sdk'
import type { LoadError } from '../loader/load.js'
import { nativeImport } from '../loader/hooks.js'

/** In the order tried: the first that exists is read (as Motia reads the first of `motia.config.{ts,js}`). */
export const CONFIG_FILES = ['motia.config.ts', 'motia.config.mts', 'motia.config.cts', 'motia.config.js', 'motia.config.mjs', 'motia.config.cjs']

/** Keys of Motia's `Config`; CFP acts on `plugins` only (the others are documented as not supported). */
const KNOWN_KEYS = ['plugins', 'app', 'adapters', 'streamAuth', 'redis']

export interface MotiaConfigFile {
  /** Project-relative name, e.g. `motia.config.ts`. */
  file: string
  path: string
  plugins: MotiaPluginBuilder[]
}

export async function readMotiaConfig(root: string, gen: number, errors: LoadError[]): Promise<MotiaConfigFile | undefined> {
  const file = CONFIG_FILES.find((f) => existsSync(join(root, f)))
  if (!file) return undefined
  const path = join(root, file)
  const fail = (key: string, reason: string): undefined => {
    errors.push({ file, code: 'invalid_config', key, message: `${file}: ${key}: ${reason}` })
    return undefined
  }
  let ns: Record<string, unknown>
  try {
    ns = (await nativeImport(`${pathToFileURL(path).href}?cfpv=${gen}`)) as Record<string, unknown>
  } catch (err) {
    const where = err instanceof Error ? projectFrame(err, root) : undefined
    const what = err instanceof Error ? `${err.name}: ${firstLine(err.message)}` : String(err)
    errors.push({
      file: where?.file ?? file,
      code: 'load_failed',
      message: `${file}: failed to load${where && where.file !== file ? ` (thrown in ${where.file}${where.line ? ` line ${where.line}` : ''})` : ''}: ${what}`,
    })
    return undefined
  }
  let config: unknown = ns.default
  // CommonJS (`module.exports = …`) and ESM compiled to CommonJS (`exports.default = …`).
  for (let i = 0; i < 2 && isObject(config) && !('plugins' in config) && isObject(config.default); i++) config = config.default
  if (config === undefined) return fail('default', 'has no default export; export default config({ plugins: [...] }) (or module.exports = { plugins: [...] })')
  if (!isObject(config)) return fail('default', `the default export must be an object like { plugins: [...] }, got ${describe(config)}`)
  const unknown = Object.keys(config).find((k) => !KNOWN_KEYS.includes(k))
  if (unknown !== undefined) fail(unknown, `unknown key '${unknown}'; a Motia config has ${KNOWN_KEYS.join(', ')}`)
  if (config.app !== undefined && typeof config.app !== 'function') fail('app', `must be a function, got ${describe(config.app)}`)
  const plugins: MotiaPluginBuilder[] = []
  if (config.plugins !== undefined) {
    if (!Array.isArray(config.plugins)) return fail('plugins', `must be an array of plugin functions, got ${describe(config.plugins)}`)
    config.plugins.forEach((entry, i) => {
      // `require()` of an ES module (or of `exports.default = plugin`) gives its namespace: use its default.
      const p = isObject(entry) && typeof entry.default === 'function' ? entry.default : entry
      if (typeof p === 'function') plugins.push(p as MotiaPluginBuilder)
      else fail(`plugins[${i}]`, `must be a plugin function (motia) => ({ workbench: [...] }), got ${describe(p)}`)
    })
  }
  return { file, path, plugins }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 40))}`
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v).slice(0, 40)}`
}

const firstLine = (message: string): string => message.split('\n').find(Boolean)?.slice(0, 300) ?? ''

/** The first frame of an error's stack in a project file (not node_modules, not CFP's own code). */
export function projectFrame(err: Error, root: string): { file: string; line?: string } | undefined {
  const prefix = root.endsWith('/') ? root : `${root}/`
  for (const raw of (err.stack ?? '').split('\n').slice(1)) {
    const m = raw.match(/\(?((?:file:\/\/)?\/[^():]+):(\d+):\d+\)?\s*$/)
    if (!m?.[1]) continue
    const path = decodeURIComponent(m[1].replace(/^file:\/\//, '').split('?')[0] ?? '')
    if (!path.startsWith(prefix) || path.includes('/node_modules/')) continue
    return { file: path.slice(prefix.length), line: m[2] }
  }
  return undefined
}
