/**
 * PostgreSQL access: a pool whose every connection has `search_path` set to the control-plane schema, and
 * `tx()`, which runs a function in one transaction (rolled back on any throw: nothing half-written).
 */
import pg from 'pg'

/** Anything that runs a parameterised statement: the pool (`Db`) or a client inside a transaction. */
export interface Queryable {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<R extends pg.QueryResultRow = any>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>
}

export interface Db extends Queryable {
  pool: pg.Pool
  schema: string
  tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>
  close(): Promise<void>
}

export function openDb(databaseUrl: string, schema: string, max = 10): Db {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`bad schema name ${schema}`)
  const pool = new pg.Pool({ connectionString: databaseUrl, max, options: `-c search_path=${schema}` })
  pool.on('error', () => {
    // an idle client died (server restart); the pool replaces it on next use
  })
  return {
    pool,
    schema,
    query: (sql: string, params?: unknown[]) => pool.query(sql, params),
    async tx(fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const result = await fn(client)
        await client.query('COMMIT')
        return result
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        client.release()
      }
    },
    close: () => pool.end(),
  }
}
