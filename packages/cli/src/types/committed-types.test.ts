/**
 * The types.d.ts files committed with the template and the examples must be what `cfp generate-types` writes
 * for them today, and the examples must type-check against them and @cfp/sdk's 'motia' declarations. Needs
 * @cfp/worker and @cfp/sdk built; skipped otherwise.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { generateTypes } from './generate.js'

const root = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url))
const workerBuilt = existsSync(root('../worker/dist/index.js'))

describe.skipIf(!workerBuilt)('committed types.d.ts', () => {
  for (const project of ['templates/default', '../../examples/hello', '../../examples/motia-classic']) {
    it(`is current for ${project}`, async () => {
      const { loadProject } = (await import('@cfp/worker' as string)) as {
        loadProject: (dir: string) => Promise<{ steps: Array<{ manifest: never }>; streams: never[]; errors: unknown[] }>
      }
      const loaded = await loadProject(root(project))
      expect(loaded.errors).toEqual([])
      const { text } = generateTypes(
        loaded.steps.map((s) => s.manifest),
        loaded.streams.map((s: { manifest: never }) => s.manifest),
      )
      expect(readFileSync(root(`${project}/types.d.ts`), 'utf8'), 'run `cfp generate-types --dir ' + project + '`').toBe(text)
    })
  }
})

const sdkBuilt = existsSync(root('../sdk/dist/motia.d.ts'))

describe.skipIf(!sdkBuilt)('examples type-check as classic Motia projects', () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  for (const project of ['../../examples/hello', '../../examples/motia-classic']) {
    it(`tsc --noEmit passes for ${project}`, () => {
      const run = spawnSync(process.execPath, [tsc, '--noEmit', '-p', root(project)], { encoding: 'utf8' })
      expect(run.stdout + run.stderr).toBe('')
      expect(run.status).toBe(0)
    })
  }
})
