import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { pgPaths, redactUrl, startEmbeddedPostgres } from './postgres.js'

describe('embedded PostgreSQL', () => {
  it('initialises once in .cfp/pg, creates the cfp database, and reuses the cluster on the next start', async () => {
    const projectDir = mkdtempSync(join(tmpdir(), 'cfp-pg-'))
    chmodSync(projectDir, 0o755) // as root, PostgreSQL runs as 'postgres' and must enter the project
    const lines: string[] = []
    const sink = (_: string, __: string, line: string) => lines.push(line)

    const first = await startEmbeddedPostgres({ projectDir, sink })
    try {
      expect(first.initialised).toBe(true)
      expect(first.url).toMatch(/^postgres:\/\/postgres:[\w-]+@127\.0\.0\.1:\d+\/cfp$/)
      const client = new pg.Client({ connectionString: first.url })
      await client.connect()
      const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db')
      await client.query('CREATE TABLE kept (v text)')
      await client.query("INSERT INTO kept VALUES ('still here')")
      await client.end()
      expect(rows[0]?.db).toBe('cfp')
    } finally {
      await first.stop()
    }
    const { credentials } = pgPaths(projectDir)
    expect(statSync(credentials).mode & 0o777).toBe(0o600)
    expect(first.url).toContain((JSON.parse(readFileSync(credentials, 'utf8')) as { password: string }).password)

    const second = await startEmbeddedPostgres({ projectDir, sink })
    try {
      expect(second.initialised).toBe(false)
      const client = new pg.Client({ connectionString: second.url })
      await client.connect()
      const { rows } = await client.query<{ v: string }>('SELECT v FROM kept')
      await client.end()
      expect(rows).toEqual([{ v: 'still here' }])
    } finally {
      await second.stop()
    }
    expect(second.child.hasExited).toBe(true)
    rmSync(projectDir, { recursive: true, force: true })
  }, 60_000)

  it('refuses, with advice, a project the postgres user cannot enter', async () => {
    if (process.getuid?.() !== 0) return
    const projectDir = mkdtempSync(join(tmpdir(), 'cfp-pg-')) // mode 0700
    await expect(startEmbeddedPostgres({ projectDir, sink: () => {} })).rejects.toThrow(/cannot reach/)
    rmSync(projectDir, { recursive: true, force: true })
  })

  it('redacts passwords in database URLs', () => {
    expect(redactUrl('postgres://u:p%40ss@h:5432/db')).toBe('postgres://u:***@h:5432/db')
    expect(redactUrl('postgres://h/db')).toBe('postgres://h/db')
  })
})
