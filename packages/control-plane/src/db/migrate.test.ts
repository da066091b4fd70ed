import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { DB_URL } from '../test-support/harness.js'
import { migrate, readMigrations } from './migrate.js'
import { openDb } from './pool.js'

const schema = `cfp_control_mig_${randomBytes(4).toString('hex')}`
const db = openDb(DB_URL, schema, 3)

afterAll(async () => {
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await db.close()
})

describe('migrations', () => {
  it('apply once, in order, into the control-plane schema only, also when replicas race', async () => {
    const all = readMigrations()
    expect(all.map((m) => m.version)).toEqual(all.map((_, i) => i + 1))
    const [a, b] = await Promise.all([migrate(db), migrate(db)])
    expect([...a!, ...b!].sort((x, y) => x - y)).toEqual(all.map((m) => m.version))
    expect(await migrate(db)).toEqual([])
    const { rows } = await db.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'tenants'", [schema])
    expect(rows[0].n).toBe(1)
  })

  it('refuse to start when an applied migration was edited', async () => {
    const edited = readMigrations().map((m, i) => (i === 0 ? { ...m, checksum: 'changed' } : m))
    await expect(migrate(db, edited)).rejects.toThrow(/was changed after it was applied/)
  })

  it('enforce the scope shape of role bindings in the database', async () => {
    const [u] = (await db.query("INSERT INTO users (email) VALUES ('x@example.test') RETURNING id")).rows
    await expect(db.query("INSERT INTO role_bindings (user_id, role, scope_kind) VALUES ($1, 'tenant_admin', 'tenant')", [u.id])).rejects.toThrow(
      /check constraint/,
    )
  })
})
