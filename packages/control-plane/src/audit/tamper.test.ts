/**
 * The database refuses to rewrite the audit tables (triggers for every role; the application role holds only INSERT
 * and SELECT), and what a superuser does behind the triggers is found by the standalone verifier, naming the chain,
 * the sequence number and what is wrong. Each tampering runs in a transaction that is rolled back afterwards.
 */
import { randomBytes } from 'node:crypto'
import { privateKeyFromSeed, signCheckpoint } from 'cfp-audit-verify'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DB_URL, createHarness, type Harness } from '../test-support/harness.js'
import { drain } from '../test-support/audit.js'
import { verifyChain } from 'cfp-audit-verify'
import { audit } from './record.js'

let h: Harness
let admin: pg.Client
const T1 = 'aaaaaaaa-1111-4111-8111-111111111111'
const T2 = 'bbbbbbbb-2222-4222-8222-222222222222'
const C1 = `control:${T1}`
const C2 = `control:${T2}`

beforeAll(async () => {
  h = await createHarness()
  for (let i = 0; i < 12; i++) {
    await audit(h.s, h.s.db, undefined, { kind: 'test.entry', scope: { tenant: T1 }, details: { i } })
    if (i === 5) await drain(h, true)
  }
  for (let i = 0; i < 4; i++) await audit(h.s, h.s.db, undefined, { kind: 'test.entry', scope: { tenant: T2 }, details: { i } })
  await drain(h, true)
  admin = new pg.Client({ connectionString: DB_URL, options: `-c search_path=${h.s.db.schema}` })
  await admin.connect()
})
afterAll(async () => {
  await admin?.end()
  await h?.close()
})

/** Verifies a chain as `q` sees it (inside the tampering transaction). */
async function verifyAs(q: pg.Client, chain: string) {
  const { rows } = await q.query("SELECT leaf, encode(leaf_hash, 'hex') AS leaf_hash FROM audit_entries WHERE chain = $1 ORDER BY seq", [chain])
  const cps = await q.query('SELECT note FROM audit_checkpoints WHERE chain = $1 ORDER BY size', [chain])
  const keys = await q.query('SELECT name, public_key FROM audit_keys')
  return verifyChain(
    chain,
    rows.map((r) => ({ leaf: r.leaf, leaf_hash: r.leaf_hash })),
    cps.rows.map((c) => c.note),
    keys.rows.map((k) => ({ name: k.name, publicKey: k.public_key })),
  )
}

/** Runs `tamper` as superuser with the triggers off, returns what the verifier says of `chain`, and rolls back. */
async function tampered(chain: string, tamper: (q: pg.Client) => Promise<void>) {
  await admin.query('BEGIN')
  try {
    await admin.query('ALTER TABLE audit_entries DISABLE TRIGGER USER')
    await admin.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER USER')
    await tamper(admin)
    return await verifyAs(admin, chain)
  } finally {
    await admin.query('ROLLBACK')
  }
}

describe('audit tables are append-only', () => {
  it('the chains verify before any tampering', async () => {
    expect(await verifyAs(admin, C1)).toMatchObject({ ok: true, size: 12 })
    expect(await verifyAs(admin, C2)).toMatchObject({ ok: true, size: 4 })
  })

  for (const [what, sql] of [
    ['UPDATE of an entry', `UPDATE audit_entries SET kind = 'x.y' WHERE seq = 1`],
    ['DELETE of an entry', 'DELETE FROM audit_entries WHERE seq = 1'],
    ['TRUNCATE of the entries', 'TRUNCATE audit_entries'],
    ['UPDATE of a checkpoint', "UPDATE audit_checkpoints SET note = 'x'"],
    ['DELETE of a checkpoint', 'DELETE FROM audit_checkpoints'],
    ['TRUNCATE of the checkpoints', 'TRUNCATE audit_checkpoints CASCADE'],
    ['DELETE of a tree node', 'DELETE FROM audit_nodes'],
    ['DELETE of an audit key', 'DELETE FROM audit_keys'],
    ['a changed audit public key', "UPDATE audit_keys SET public_key = '\\x00'::bytea || substring(public_key FROM 2)"],
  ] as const) {
    it(`refuses ${what}, even to a superuser`, async () => {
      await expect(h.s.db.query(sql)).rejects.toThrow(/append-only/)
    })
  }

  it('gives the application role INSERT and SELECT only', async () => {
    const role = `cfp_audit_app_${randomBytes(4).toString('hex')}`
    await admin.query(`CREATE ROLE ${role} NOLOGIN`)
    try {
      await admin.query('SELECT audit_grant_app($1)', [role])
      await admin.query('BEGIN')
      await admin.query(`SET LOCAL ROLE ${role}`)
      expect((await admin.query('SELECT count(*)::int AS n FROM audit_entries')).rows[0].n).toBeGreaterThan(0)
      await admin.query("INSERT INTO audit_queue (chain, entry) VALUES ('control:system', '{}')")
      for (const sql of [
        "UPDATE audit_entries SET kind = 'x.y'",
        'DELETE FROM audit_entries',
        'TRUNCATE audit_entries',
        "UPDATE audit_checkpoints SET note = ''",
        'DELETE FROM audit_nodes',
      ]) {
        await admin.query('SAVEPOINT s')
        await expect(admin.query(sql)).rejects.toThrow(/permission denied/)
        await admin.query('ROLLBACK TO SAVEPOINT s')
      }
      await admin.query('ROLLBACK')
    } finally {
      await admin.query('ROLLBACK').catch(() => undefined)
      await admin.query(`DROP OWNED BY ${role}`)
      await admin.query(`DROP ROLE ${role}`)
    }
  })
})

describe('tampering behind the triggers is found', () => {
  it('an edited field: edited, at its seq', async () => {
    const r = await tampered(C1, (q) =>
      q.query(`UPDATE audit_entries SET leaf = replace(leaf, '"i":3', '"i":33') WHERE chain = $1 AND seq = 3`, [C1]).then(() => undefined),
    )
    expect(r).toMatchObject({ ok: false, chain: C1, seq: 3, finding: 'edited' })
  })

  it('an edited field with its leaf hash recomputed: still found at its seq (the next prev and the signed root disagree)', async () => {
    const r = await tampered(C1, async (q) => {
      await q.query(`UPDATE audit_entries SET leaf = replace(leaf, '"i":3', '"i":33') WHERE chain = $1 AND seq = 3`, [C1])
      await q.query(`UPDATE audit_entries SET leaf_hash = sha256('\\x00'::bytea || convert_to(leaf, 'UTF8')) WHERE chain = $1 AND seq = 3`, [C1])
    })
    expect(r).toMatchObject({ ok: false, chain: C1 })
    expect(r.ok === false && r.seq).toBeLessThanOrEqual(4)
    expect(r.ok === false && r.seq).toBeGreaterThanOrEqual(3)
  })

  it('a deleted row: missing, at its seq', async () => {
    const r = await tampered(C1, (q) => q.query('DELETE FROM audit_entries WHERE chain = $1 AND seq = 4', [C1]).then(() => undefined))
    expect(r).toMatchObject({ ok: false, chain: C1, seq: 4, finding: 'missing' })
  })

  it('two rows swapped: found at the first of them', async () => {
    const r = await tampered(C1, async (q) => {
      await q.query('ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_seq_check')
      await q.query('UPDATE audit_entries SET seq = -1 WHERE chain = $1 AND seq = 7', [C1])
      await q.query('UPDATE audit_entries SET seq = 7 WHERE chain = $1 AND seq = 8', [C1])
      await q.query('UPDATE audit_entries SET seq = 8 WHERE chain = $1 AND seq = -1', [C1])
    })
    expect(r).toMatchObject({ ok: false, chain: C1, seq: 7 })
    expect(['reordered', 'edited', 'inserted']).toContain(r.ok === false && r.finding)
  })

  it('the tail truncated below a signed checkpoint: truncated', async () => {
    const r = await tampered(C1, (q) => q.query('DELETE FROM audit_entries WHERE chain = $1 AND seq >= 9', [C1]).then(() => undefined))
    expect(r).toMatchObject({ ok: false, chain: C1, finding: 'truncated' })
  })

  it('a forged row inserted in the middle: found at its seq', async () => {
    const r = await tampered(C1, async (q) => {
      await q.query('UPDATE audit_entries SET seq = seq + 100 WHERE chain = $1 AND seq >= 5', [C1])
      await q.query('UPDATE audit_entries SET seq = seq - 99 WHERE chain = $1 AND seq >= 105', [C1])
      const { rows } = await q.query('SELECT leaf, leaf_hash FROM audit_entries WHERE chain = $1 AND seq = 4', [C1])
      const forged = JSON.parse(rows[0].leaf)
      forged.seq = 5
      forged.prev = rows[0].leaf_hash.toString('hex')
      forged.details = { forged: true }
      const { canonicalize, leafHash } = await import('cfp-audit-verify')
      const leaf = canonicalize(forged)
      await q.query(
        `INSERT INTO audit_entries (chain, seq, leaf, leaf_hash, prev, time, kind, actor_type, outcome) VALUES ($1, 5, $2, $3, $4, now(), 'test.entry', 'system', 'ok')`,
        [C1, leaf, leafHash(leaf), rows[0].leaf_hash],
      )
    })
    expect(r).toMatchObject({ ok: false, chain: C1 })
    // the forged row itself (5) or the first original row after it (6), whose position no longer matches
    expect([5, 6]).toContain(r.ok === false && r.seq)
    expect(['inserted', 'reordered', 'edited', 'bad_checkpoint']).toContain(r.ok === false && r.finding)
  })

  it("an entry moved into another tenant's chain: moved there, missing here", async () => {
    const move = (q: pg.Client) => q.query('UPDATE audit_entries SET chain = $2, seq = 4 WHERE chain = $1 AND seq = 11', [C1, C2]).then(() => undefined)
    expect(await tampered(C2, move)).toMatchObject({ ok: false, chain: C2, seq: 4, finding: 'moved' })
    expect(await tampered(C1, move)).toMatchObject({ ok: false, chain: C1, finding: 'truncated' })
  })

  it('a checkpoint signature replaced by another key: bad_checkpoint', async () => {
    const r = await tampered(C1, async (q) => {
      const { rows } = await q.query('SELECT size, note, key_name FROM audit_checkpoints WHERE chain = $1 ORDER BY size LIMIT 1', [C1])
      const body = rows[0].note.slice(0, rows[0].note.indexOf('\n\n') + 1)
      const forged = signCheckpoint(body, rows[0].key_name, privateKeyFromSeed(randomBytes(32)))
      await q.query('UPDATE audit_checkpoints SET note = $3 WHERE chain = $1 AND size = $2', [C1, rows[0].size, forged])
    })
    expect(r).toMatchObject({ ok: false, chain: C1, finding: 'bad_checkpoint' })
  })

  it('the whole table truncated: the signed checkpoints say so', async () => {
    const r = await tampered(C1, (q) => q.query('TRUNCATE audit_entries').then(() => undefined))
    expect(r).toMatchObject({ ok: false, chain: C1, finding: 'truncated' })
  })
})
