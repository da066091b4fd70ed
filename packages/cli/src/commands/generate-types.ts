/**
 * `cfp generate-types [--dir D]`: loads the project's steps and streams with `@cfp/worker`'s `loadProject`
 * and writes `<dir>/types.d.ts` (see `types/generate.ts` for the shape), then copies the `'motia'` declarations
 * of `@cfp/sdk` into `<dir>/.cfp/sdk/` for the project's tsconfig.
 *
 * Steps that fail to load are reported and left out; the file is still written for the others, and the
 * command exits 1 so scripts notice.
 *
 * Python steps (`*_step.py`) are read through the project's Python environment (`python -m cfp_worker
 * --manifest`), so topics they subscribe to or emit count; without `.cfp/venv` (before the first `cfp dev`)
 * they are left out, with a note.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { hasPythonSteps, pythonManifests } from '../dev/python.js'
import { generateTypes, type StepManifestLike, type StreamManifestLike } from '../types/generate.js'
import { CliError, messageOf } from '../util/errors.js'
import type { CommandIo } from '../util/io.js'
import { syncSdkTypes } from '../util/sdk-types.js'

/** The part of `@cfp/worker`'s `loadProject` result this command reads. */
export interface LoadedProject {
  steps: Array<{ manifest: StepManifestLike }>
  streams?: unknown[]
  errors?: unknown[]
}

export type ProjectLoader = (dir: string) => Promise<LoadedProject>

export interface GenerateTypesOptions {
  dir?: string
  /** Print only warnings and errors. */
  quiet?: boolean
  /** Defaults to `loadProject` from `@cfp/worker`. */
  load?: ProjectLoader
  /** Copies the 'motia' declarations into `.cfp/sdk/`; defaults to `syncSdkTypes`. */
  syncSdk?: (dir: string) => string | undefined
}

async function workerLoader(): Promise<ProjectLoader> {
  const specifier = '@cfp/worker'
  let mod: { loadProject?: ProjectLoader }
  try {
    mod = (await import(specifier)) as { loadProject?: ProjectLoader }
  } catch (cause) {
    throw new CliError(`Cannot load @cfp/worker: ${messageOf(cause)}`, {
      explanation: 'cfp generate-types reads your steps with the same loader the worker uses.',
      action: 'Run `npm install && npm run build` at the root of the CFP repository.',
      cause,
    })
  }
  if (typeof mod.loadProject !== 'function') {
    throw new CliError('@cfp/worker does not export loadProject', { action: 'Rebuild the CFP packages (`npm run build`).' })
  }
  return mod.loadProject
}

/** Stream entries as `{name, schema}`, whether the loader returns manifests, configs or wrappers. */
export function streamManifests(streams: readonly unknown[] | undefined): StreamManifestLike[] {
  const out: StreamManifestLike[] = []
  for (const entry of streams ?? []) {
    const e = entry as { name?: unknown; manifest?: { name?: unknown }; config?: { name?: unknown } }
    const candidate = (typeof e.name === 'string' ? e : (e.manifest ?? e.config)) as StreamManifestLike | undefined
    if (candidate && typeof candidate.name === 'string') out.push(candidate)
  }
  return out
}

/** A readable line for one load error, whatever its exact shape. */
export function describeLoadError(error: unknown, dir: string): string {
  if (typeof error === 'string') return error
  const e = error as { file?: unknown; step?: unknown; message?: unknown; code?: unknown }
  const file = typeof e.file === 'string' ? (e.file.startsWith('/') ? relative(dir, e.file) : e.file) : undefined
  const where = [file, typeof e.step === 'string' ? `step '${e.step}'` : undefined].filter(Boolean).join(', ')
  const message = typeof e.message === 'string' ? e.message : error instanceof Error ? error.message : JSON.stringify(error)
  // @cfp/worker's messages already start with the file
  return where && !(file && message.startsWith(file)) ? `${where}: ${message}` : message
}

export async function runGenerateTypes(opts: GenerateTypesOptions, io: CommandIo): Promise<number> {
  const dir = resolve(io.cwd, opts.dir ?? '.')
  const load = opts.load ?? (await workerLoader())
  let project: LoadedProject
  try {
    project = await load(dir)
  } catch (cause) {
    if (cause instanceof CliError) throw cause
    throw new CliError(`Could not load the project in ${dir}: ${messageOf(cause)}`, {
      action: 'Fix the error above, then run `cfp generate-types` again.',
      cause,
    })
  }
  if (hasPythonSteps(dir)) {
    const py = pythonManifests(dir)
    if (py) {
      project = {
        steps: [...project.steps, ...py.steps],
        streams: [...(project.streams ?? []), ...py.streams],
        errors: [...(project.errors ?? []), ...py.errors],
      }
    } else {
      io.err('note: the Python steps are left out: .cfp/venv does not exist yet (start `cfp dev` once to create it)')
    }
  }
  const manifests = project.steps.map((s) => s.manifest)
  const { text, warnings } = generateTypes(manifests, streamManifests(project.streams))
  const target = join(dir, 'types.d.ts')
  // unchanged content is not rewritten, so file watchers (the worker's --watch) stay quiet
  const unchanged = existsSync(target) && readFileSync(target, 'utf8') === text
  if (!unchanged) writeFileSync(target, text)
  const sdk = (opts.syncSdk ?? syncSdkTypes)(dir)
  if (!sdk) io.err("note: @cfp/sdk is not built, so .cfp/sdk/ (the 'motia' types for your editor) was not refreshed")

  for (const warning of warnings) io.err(`warning: ${warning}`)
  const errors = project.errors ?? []
  for (const error of errors) io.err(`error: ${describeLoadError(error, dir)}`)
  if (!opts.quiet || errors.length > 0) {
    const typed = manifests.filter((m) => m.type !== 'noop').length
    io.err(
      `${unchanged ? 'Up to date' : 'Wrote'} ${relative(io.cwd, target) || target}: ${typed} handler${typed === 1 ? '' : 's'}, ` +
        `${streamManifests(project.streams).length} stream(s)` +
        (errors.length > 0 ? `; ${errors.length} file(s) could not be loaded and were left out` : ''),
    )
  }
  return errors.length > 0 ? 1 : 0
}
