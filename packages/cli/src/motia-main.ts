#!/usr/bin/env node
/**
 * `motia`: Motia's command line on CFP (see motia.ts). Installed by `@cfp/cli` next to `cfp`, so a Motia
 * project that depends on `@cfp/cli` instead of `motia` runs `npm run dev` (`motia dev`) unchanged.
 */
import { buildMotiaProgram } from './motia.js'
import { formatError } from './util/errors.js'

try {
  await buildMotiaProgram().parseAsync(process.argv)
} catch (err) {
  process.stderr.write(`${formatError(err)}\n`)
  process.exit((err as { exitCode?: number }).exitCode ?? 1)
}
