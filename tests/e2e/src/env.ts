/**
 * Where things are, and the environment the processes under test get.
 *
 * - `runtimeBin()`: the debug build of cfp-runtime: `CFP_RUNTIME_BIN` if set, else
 *   `${CARGO_TARGET_DIR:-<repo>/target}/debug/cfp-runtime` (`cargo build -p cfp-runtime`).
 * - `ADMIN_DATABASE_URL`: the PostgreSQL server the tests create their databases on
 *   (`CFP_E2E_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
 * - `childEnv()`: this process's environment without anything that would point a child at another server
 *   (DATABASE_URL, CFP_*, NODE_ENV set by vitest), plus `CFP_RUNTIME_BIN` and `NO_COLOR`.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const E2E_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const REPO_ROOT = resolve(E2E_ROOT, '..', '..')
export const FIXTURES = join(E2E_ROOT, 'fixtures')
export const EXAMPLES = join(REPO_ROOT, 'examples')
/** Copies of fixtures and examples live here: inside the repository, so `zod` resolves from its node_modules. */
export const WORK_ROOT = join(E2E_ROOT, '.work')
export const CLI_MAIN = join(REPO_ROOT, 'packages', 'cli', 'dist', 'main.js')
export const WORKER_MAIN = join(REPO_ROOT, 'packages', 'worker', 'dist', 'main.js')
export const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

export const ADMIN_DATABASE_URL = process.env.CFP_E2E_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'

export function runtimeBin(): string {
  if (process.env.CFP_RUNTIME_BIN) return resolve(process.env.CFP_RUNTIME_BIN)
  const target = process.env.CARGO_TARGET_DIR ? resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : join(REPO_ROOT, 'target')
  return join(target, 'debug', 'cfp-runtime')
}

/** Why the suite cannot run, or undefined. */
export function missingPrerequisite(): string | undefined {
  const bin = runtimeBin()
  if (!existsSync(bin)) return `no runtime binary at ${bin}: run \`cargo build -p cfp-runtime\` (or set CFP_RUNTIME_BIN)`
  for (const file of [CLI_MAIN, WORKER_MAIN, join(REPO_ROOT, 'packages', 'sdk', 'dist', 'motia.js')]) {
    if (!existsSync(file)) return `${file} is missing: run \`npm run build\` at the repository root`
  }
  return undefined
}

export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'DATABASE_URL' || key === 'NODE_ENV' || key.startsWith('CFP_') || key.startsWith('VITEST')) continue
    if (key === 'NODE_OPTIONS' || key === 'TEST' || key === 'LOG_LEVEL') continue
    env[key] = value
  }
  env.CFP_RUNTIME_BIN = runtimeBin()
  env.NO_COLOR = '1'
  return { ...env, ...extra }
}
