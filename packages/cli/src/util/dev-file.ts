/**
 * `.cfp/dev.json`: how other commands (`cfp emit`, `cfp dlq`) find the running `cfp dev` server.
 *
 * `cfp dev` writes `{url, adminToken, pid}` with mode 0600 once the runtime is ready and removes it on exit.
 * Readers look in the given directory and its parents, and treat a file whose `pid` is not running as stale.
 * `CFP_URL` + `CFP_TOKEN` in the environment override the file.
 *
 * @example
 * const target = resolveTarget({ dir: process.cwd(), env: process.env })
 * await fetch(`${target.url}/__cfp/api/dlq`, { headers: { authorization: `Bearer ${target.token}` } })
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { CliError, messageOf } from './errors.js'

export interface DevFile {
  /** Base URL of the runtime, e.g. `http://127.0.0.1:3000`. */
  url: string
  /** Bearer token for the runtime's admin API (`/__cfp/api/*`). */
  adminToken: string
  /** Process id of `cfp dev`. */
  pid: number
  /** Where the data lives (informational): `embedded` or `DATABASE_URL`. */
  database?: string
  /** The database URL of the running dev server (with its password: the file is mode 0600), for `cfp audit`. */
  databaseUrl?: string
  startedAt?: string
}

export interface Target {
  url: string
  token: string
  /** `env` or the path of the dev.json used. */
  source: string
}

export const DEV_FILE = join('.cfp', 'dev.json')

export function devFilePath(projectDir: string): string {
  return join(resolve(projectDir), DEV_FILE)
}

/** Writes dev.json atomically with mode 0600 (it holds the admin token). */
export function writeDevFile(projectDir: string, info: DevFile): string {
  const path = devFilePath(projectDir)
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, path)
  return path
}

/** Parses a dev.json file; throws a CliError naming the file when it is damaged. */
export function readDevFile(path: string): DevFile {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (cause) {
    throw new CliError(`Cannot read ${path}: ${messageOf(cause)}`, {
      action: 'Delete the file and restart `cfp dev`.',
    })
  }
  const p = parsed as Partial<DevFile> | null
  if (!p || typeof p.url !== 'string' || typeof p.adminToken !== 'string' || typeof p.pid !== 'number') {
    throw new CliError(`${path} does not look like a cfp dev file (needs url, adminToken and pid)`, {
      action: 'Delete the file and restart `cfp dev`.',
    })
  }
  return p as DevFile
}

/** Removes dev.json, but only if it still belongs to `pid` (a newer `cfp dev` may have replaced it). */
export function removeDevFile(projectDir: string, pid: number = process.pid): void {
  const path = devFilePath(projectDir)
  try {
    if (readDevFile(path).pid !== pid) return
  } catch {
    if (!existsSync(path)) return
  }
  rmSync(path, { force: true })
}

/** Whether a process with this id exists (a process we may not signal still counts). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The nearest dev.json in `dir` or one of its parents. */
export function findDevFile(dir: string): string | undefined {
  let current = resolve(dir)
  for (;;) {
    const candidate = join(current, DEV_FILE)
    if (existsSync(candidate)) return candidate
    const parent = dirname(current)
    if (parent === current) return undefined
    current = parent
  }
}

export interface TargetQuery {
  dir: string
  env: NodeJS.ProcessEnv
  isAlive?: (pid: number) => boolean
}

/** The runtime URL and admin token for dev commands: `CFP_URL`/`CFP_TOKEN`, else the nearest dev.json. */
export function resolveTarget(query: TargetQuery): Target {
  const { CFP_URL: url, CFP_TOKEN: token } = query.env
  if (url || token) {
    if (!url || !token) {
      throw new CliError(`${url ? 'CFP_TOKEN' : 'CFP_URL'} is not set, but ${url ? 'CFP_URL' : 'CFP_TOKEN'} is`, {
        explanation: 'Set both to talk to a runtime of your choice, or neither to use the local `cfp dev` server.',
      })
    }
    return { url: url.replace(/\/+$/, ''), token, source: 'env' }
  }
  const path = findDevFile(query.dir)
  if (!path) {
    throw new CliError(`No running cfp dev server found for ${resolve(query.dir)}`, {
      explanation: `There is no ${DEV_FILE} in this directory or its parents.`,
      action: 'Start `cfp dev` in your project (or pass --dir), or set CFP_URL and CFP_TOKEN.',
    })
  }
  const info = readDevFile(path)
  const alive = query.isAlive ?? isProcessAlive
  if (!alive(info.pid)) {
    throw new CliError(`The cfp dev server recorded in ${path} (pid ${info.pid}) is not running`, {
      explanation: 'The file was left behind by a dev server that did not shut down cleanly.',
      action: 'Start `cfp dev` again (it replaces the file).',
    })
  }
  return { url: info.url.replace(/\/+$/, ''), token: info.adminToken, source: path }
}

/** The database URL recorded by a running `cfp dev` for `dir` (or a parent), if there is one. */
export function resolveDevDatabase(dir: string, isAlive: (pid: number) => boolean = isProcessAlive): string | undefined {
  const path = findDevFile(dir)
  if (!path) return undefined
  const info = readDevFile(path)
  return isAlive(info.pid) && typeof info.databaseUrl === 'string' ? info.databaseUrl : undefined
}
