/** Checks, once before any test file, that what the suite runs is built and that PostgreSQL answers. */
import pg from 'pg'
import { ADMIN_DATABASE_URL, missingPrerequisite, runtimeBin } from './env.js'

export default async function setup(): Promise<void> {
  const missing = missingPrerequisite()
  if (missing) throw new Error(`e2e prerequisites: ${missing}`)
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5_000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
  } catch (err) {
    throw new Error(`e2e prerequisites: PostgreSQL at ${ADMIN_DATABASE_URL} is not reachable (${(err as Error).message}); set CFP_E2E_DATABASE_URL`)
  } finally {
    await client.end().catch(() => undefined)
  }
  console.log(`e2e: runtime ${runtimeBin()}, PostgreSQL ${ADMIN_DATABASE_URL}`)
}
