/**
 * Starts what the browser tests use — a fresh database and `cfp dev` on a copy of a project — and keeps it
 * running until Ctrl-C, for working on the workbench by hand:
 *
 *   npx tsx e2e/serve.ts [project dir, default ../../examples/hello]
 */
import { resolve } from 'node:path'
import { createDatabase, REPO_ROOT, startDevServer } from './harness'

const project = resolve(process.argv[2] ?? resolve(REPO_ROOT, 'examples/hello'))
const db = await createDatabase()
const server = await startDevServer({ project, name: 'serve', databaseUrl: db.url, expectSteps: [] })
console.log(`runtime:   ${server.runtimeUrl}\nworkbench: ${server.appUrl}\nproject:   ${server.projectDir}`)
let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await server.stop()
  await db.drop()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
