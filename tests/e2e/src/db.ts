/**
 * A PostgreSQL database of its own for one test file: `cfp_e2e_<random>` on the test server, dropped at the end.
 * Also reads the runtime's tables (schema `cfp_runtime`) for assertions: state, queue, dead letters.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { ADMIN_DATABASE_URL } from './env.js'

export const SCHEMA = 'cfp_runtime'

export class TestDb {
  private pool: pg.Pool | undefined
  private dropped = false

  private constructor(
    readonly name: string,
    readonly url: string,
  ) {}

  static async create(): Promise<TestDb> {
    const name = `cfp_e2e_${randomBytes(6).toString('hex')}`
    const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 10_000 })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE "${name}"`)
    } finally {
      await admin.end()
    }
    const url = new URL(ADMIN_DATABASE_URL)
    url.pathname = `/${name}`
    return new TestDb(name, url.toString())
  }

  private get db(): pg.Pool {
    if (!this.pool) {
      this.pool = new pg.Pool({ connectionString: this.url, max: 3, connectionTimeoutMillis: 10_000 })
      // An idle client cut off by the DROP DATABASE ... WITH (FORCE) at teardown must not crash the run.
      this.pool.on('error', () => undefined)
    }
    return this.pool
  }

  async query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.db.query<R>(sql, params)).rows
  }

  /** Whether the runtime created its tables yet. */
  async hasRuntimeSchema(): Promise<boolean> {
    const rows = await this.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'state'`, [SCHEMA])
    return rows.length > 0
  }

  /** A `ctx.state` value of the default project, or undefined. */
  async state<T = unknown>(group: string, key: string): Promise<T | undefined> {
    const rows = await this.query<{ value: T }>(
      `SELECT value FROM ${SCHEMA}.state WHERE tenant_id = 'default' AND project_id = 'default' AND group_id = $1 AND key = $2`,
      [group, key],
    )
    return rows[0]?.value
  }

  /** Every `[key, value]` of a state group, in key order. */
  async stateGroup<T = unknown>(group: string): Promise<Array<[string, T]>> {
    const rows = await this.query<{ key: string; value: T }>(
      `SELECT key, value FROM ${SCHEMA}.state WHERE tenant_id = 'default' AND project_id = 'default' AND group_id = $1 ORDER BY key`,
      [group],
    )
    return rows.map((r) => [r.key, r.value])
  }

  async drop(): Promise<void> {
    if (this.dropped) return
    this.dropped = true
    await this.pool?.end().catch(() => undefined)
    const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 10_000 })
    await admin.connect()
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${this.name}" WITH (FORCE)`)
    } finally {
      await admin.end()
    }
  }
}
