/**
 * Finds a project's step and stream files: `*.step.ts|js` / `*_step.ts|js` and `*.stream.ts|js` /
 * `*_stream.ts|js` under `steps/` and `src/` (recursively; `node_modules` and dot-directories are skipped).
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'

export const SOURCE_DIRS = ['steps', 'src']
const EXT = String.raw`\.(?:ts|js|mts|mjs|cts|cjs|tsx|jsx)$`
const STEP_RE = new RegExp(String.raw`(?:\.step|_step)${EXT}`)
const STREAM_RE = new RegExp(String.raw`(?:\.stream|_stream)${EXT}`)

export const isStepFile = (name: string): boolean => STEP_RE.test(name) && !name.endsWith('.d.ts')
export const isStreamFile = (name: string): boolean => STREAM_RE.test(name) && !name.endsWith('.d.ts')

/** Directories never searched or watched. */
export const isIgnoredDir = (name: string): boolean => name === 'node_modules' || name.startsWith('.') || name === 'dist'

export interface DiscoveredFiles {
  steps: string[]
  streams: string[]
}

/** Absolute paths of the step and stream files of the project in `dir`, sorted. */
export async function discoverFiles(dir: string): Promise<DiscoveredFiles> {
  const out: DiscoveredFiles = { steps: [], streams: [] }
  for (const sub of SOURCE_DIRS) await walk(join(dir, sub), out)
  out.steps.sort()
  out.streams.sort()
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
      else if (isStreamFile(e.name)) out.streams.push(full)
    }
  }
}
