/**
 * Finds a project's step and stream files: `*.step.ts|js` / `*_step.ts|js` and `*.stream.ts|js` /
 * `*_stream.ts|js` under `steps/` and `src/` (recursively; `node_modules` and dot-directories are skipped).
 *
 * `*.step.tsx|jsx` / `*_step.tsx|jsx` are Motia's workbench node components (React UI for a step's node in the
 * flow view), never steps: they are listed apart (`nodeComponents`, bundled by `../ui/bundle.ts`) and never
 * loaded, so by neither the worker, `cfp generate-types` nor the CLI.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'

export const SOURCE_DIRS = ['steps', 'src']
const EXT = String.raw`\.(?:ts|js|mts|mjs|cts|cjs|tsx|jsx)$`
const STEP_RE = /(?:\.step|_step)\.(?:ts|js|mts|mjs|cts|cjs)$/
/** Motia's UI node components: `*.step.tsx` / `*_step.jsx` beside a step. */
const UI_STEP_RE = /(?:\.step|_step)\.(?:tsx|jsx)$/

export const isUiStepFile = (name: string): boolean => UI_STEP_RE.test(name)
const STREAM_RE = new RegExp(String.raw`(?:\.stream|_stream)${EXT}`)

export const isStepFile = (name: string): boolean => STEP_RE.test(name) && !name.endsWith('.d.ts')
export const isStreamFile = (name: string): boolean => STREAM_RE.test(name) && !name.endsWith('.d.ts')

/** Directories never searched or watched. */
export const isIgnoredDir = (name: string): boolean => name === 'node_modules' || name.startsWith('.') || name === 'dist'

export interface DiscoveredFiles {
  steps: string[]
  streams: string[]
  /** Motia's workbench node components (`isUiStepFile`). */
  nodeComponents: string[]
}

/** Absolute paths of the step and stream files of the project in `dir`, sorted. */
export async function discoverFiles(dir: string): Promise<DiscoveredFiles> {
  const out: DiscoveredFiles = { steps: [], streams: [], nodeComponents: [] }
  for (const sub of SOURCE_DIRS) await walk(join(dir, sub), out)
  out.steps.sort()
  out.streams.sort()
  out.nodeComponents.sort()
  return out
}

async function walk(dir: string, out: DiscoveredFiles): Promise<void> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return
    throw err
  }
  for (const e of entries) {
    const full = join(dir, e.name)
    if (e.isDirectory()) {
      if (!isIgnoredDir(e.name)) await walk(full, out)
    } else if (e.isFile() || e.isSymbolicLink()) {
      if (isStepFile(e.name)) out.steps.push(full)
      else if (isUiStepFile(e.name)) out.nodeComponents.push(full)
      else if (isStreamFile(e.name)) out.streams.push(full)
    }
  }
}
