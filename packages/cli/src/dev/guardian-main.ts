/** Entry point of the `cfp dev` guardian process (see guardian.ts). */
import { runGuardian } from './guardian.js'

await runGuardian()
process.exit(0)
