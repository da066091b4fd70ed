/**
 * Where things live: this package's root (for `templates/`), the repository root (for `target/`), and the
 * `@cfp/worker` entry script.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CliError } from './errors.js'

/** Walks up from `start` to the first directory whose package.json has the given name. */
export function findPackageRoot(start: string, name: string): string | undefined {
  let dir = resolve(start)
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest)) {
      try {
        const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }
        if (parsed.name === name) return dir
      } catch {
        // not our package.json; keep walking
      }
    }
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/** The directory of the `@cfp/cli` package (holds `templates/`, `dist/`, `src/`). */
export function cliPackageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const root = findPackageRoot(here, '@cfp/cli')
  if (!root) throw new Error(`cannot find the @cfp/cli package.json above ${here}`)
  return root
}

/** The CFP repository root: two levels above `packages/cli`. */
export function repoRoot(): string {
  return resolve(cliPackageRoot(), '..', '..')
}

/**
 * The script that runs a worker (`@cfp/worker`'s `cfp-worker` bin). `CFP_WORKER_MAIN` overrides it (tests,
 * or a worker checked out elsewhere).
 */
export function resolveWorkerMain(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.CFP_WORKER_MAIN
  if (override) {
    if (!existsSync(override)) {
      throw new CliError(`CFP_WORKER_MAIN points to ${override}, which does not exist`, {
        action: 'Fix or unset CFP_WORKER_MAIN.',
      })
    }
    return resolve(override)
  }
  let entry: string
  try {
    entry = fileURLToPath(import.meta.resolve('@cfp/worker'))
  } catch (cause) {
    throw new CliError('The @cfp/worker package is not installed', {
      explanation: 'cfp runs your steps in a worker process provided by @cfp/worker.',
      action: 'Run `npm install` at the root of the CFP repository.',
      cause,
    })
  }
  const root = findPackageRoot(dirname(entry), '@cfp/worker')
  if (!root) throw new CliError(`Cannot find the package.json of @cfp/worker above ${entry}`)
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    bin?: string | Record<string, string>
  }
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.['cfp-worker']
  const main = join(root, bin ?? 'dist/main.js')
  if (!existsSync(main)) {
    throw new CliError(`The worker script ${main} does not exist`, {
      explanation: '@cfp/worker is installed but not built.',
      action: 'Run `npm run build` at the root of the CFP repository.',
    })
  }
  return main
}
