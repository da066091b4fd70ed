/**
 * Finds a project's workbench node components: `*.step.tsx|jsx` / `*_step.tsx|jsx` under `steps/` and `src/`
 * (Motia's UI step files), with the loader's own walk (`../loader/discover.ts`). They are never steps: the loader
 * skips them; `bundleUi` bundles them for the workbench's flow view.
 */
import { discoverFiles } from '../loader/discover.js'

/** Absolute paths of the node component files of the project in `dir`, sorted. */
export async function discoverNodeComponents(dir: string): Promise<string[]> {
  return (await discoverFiles(dir)).nodeComponents
}
