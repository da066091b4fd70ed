/**
 * Finds a project's workbench node components: `*.step.tsx|jsx` / `*_step.tsx|jsx` under `steps/` and `src/`
 * (Motia's UI step files). They are never steps: the loader skips them; `bundleUi` bundles them for the
 * workbench's flow view.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { isIgnoredDir, SOURCE_DIRS } from '../loader/discover.js'

const NODE_RE = /(?:\.step|_step)\.(?:tsx|jsx)$/

export const isNodeComponentFile = (name: string): boolean => NODE_RE.test(name)

/** Absolute paths of the node component files of the project in `dir`, sorted. */
export async function discoverNodeComponents(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const sub of SOURCE_DIRS) await walk(join(dir, sub), out)
  return out.sort()
}

async function walk(dir: string, out: string[]): Promise<void> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return
    throw err
  }
  for (const e of entries) {
    const full = join(dir, e.name)
    if (e.isDirectory()) {
      if (!isIgnoredDir(e.name)) await walk(full, out)
    } else if ((e.isFile() || e.isSymbolicLink()) && isNodeComponentFile(e.name)) {
      out.push(full)
    }
  }
}
