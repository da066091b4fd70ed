/**
 * Versioned SQL migrations from `migrations/NNNN_name.sql` (shipped with the package), applied in order,
 * each in its own transaction, under an advisory lock so concurrent replicas migrate once. An applied file
 * whose checksum changed stops start-up: migrations are append-only.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Db } from './pool.js'

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url))

export interface Migration {
  version: number
  name: string
  sql: string
  checksum: string
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(dir + '/' + f, 'utf8')
      return {
        version: Number(f.slice(0, 4)),
        name: f.slice(5, -4),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      }
    })
}

/** Applies pending migrations; returns the versions applied now. */
export async function migrate(db: Db, migrations = readMigrations()): Promise<number[]> {
  const client = await db.pool.connect()
  const applied: number[] = []
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`cfp_control_migrate:${db.schema}`])
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${db.schema}`)
      await client.query(`CREATE TABLE IF NOT EXISTS ${db.schema}.schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`)
      const { rows } = await client.query<{ version: number; checksum: string; name: string }>(
        `SELECT version, checksum, name FROM ${db.schema}.schema_migrations`,
      )
      const done = new Map(rows.map((r) => [r.version, r]))
      for (const m of migrations) {
        const prior = done.get(m.version)
        if (prior) {
          if (prior.checksum !== m.checksum) {
            throw new Error(`migration ${m.version}_${m.name} was changed after it was applied (checksum differs)`)
          }
          continue
        }
        await client.query('BEGIN')
        try {
          await client.query(`SET LOCAL search_path TO ${db.schema}`)
          await client.query(m.sql)
          await client.query(`INSERT INTO ${db.schema}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [m.version, m.name, m.checksum])
          await client.query('COMMIT')
        } catch (err) {
          await client.query('ROLLBACK')
          throw new Error(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`)
        }
        applied.push(m.version)
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`cfp_control_migrate:${db.schema}`])
    }
  } finally {
    client.release()
  }
  return applied
}
