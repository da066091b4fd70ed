/**
 * Retention and legal hold (docs/audit.md "Retention and legal hold", migration 0014): pruning removes only a prefix
 * a signed checkpoint covers, the pruned chain still verifies (reported from where it was pruned) and still serves
 * proofs, a hold blocks pruning, every change is audited, the application role cannot prune, and a superuser deleting
 * rows behind the triggers is still caught (`missing`; a forged pruning record: `bad_prune`).
 */
import { randomBytes } from 'node:crypto'
import { Frontier, type QueryFn, verifyConsistency, verifyInclusion, verifyTables } from 'cfp-audit-verify'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock.js'
import { drain, entries } from '../test-support/audit.js'
import { DB_URL, createHarness, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'
import { audit } from './record.js'
import { PruneRefused } from './retention.js'
import { consistencyProof, inclusionProof, rootAt } from './tree.js'

const clock = new ManualClock(Date.parse('2026-12-01T00:00:00Z'))
/** the platform's retention floor in these tests (--audit-retention-min-days) */
const FLOOR = 3
let h: Harness
let w: World
let admin: pg.Client
let T1: string
let C1: string

const write = async (n: number, tenant = T1) => {
  for (let i = 0; i < n; i++) await audit({ clock }, h.s.db, undefined, { kind: 'test.entry', scope: { tenant }, details: { i } })
}
const queryOf =
  (q: { query: (sql: string, params?: unknown[]) => Promise<{ rows: any[] }> }): QueryFn =>
  (sql, params) =>
    q.query(sql, params) as ReturnType<QueryFn>
const resultOf = async (q: QueryFn, chain: string) => (await verifyTables(q)).chains.find((c) => c.chain === chain)!
const refusal = async (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e) => (e instanceof PruneRefused ? e.code : `unexpected: ${(e as Error).message}`),
  )
const lastCheckpoint = async (chain: string) => Number((await h.sql('SELECT max(size) AS n FROM audit_checkpoints WHERE chain = $1', [chain]))[0].n)

beforeAll(async () => {
  h = await createHarness({ clock, options: { auditRetentionMinDays: FLOOR } })
  w = await seedWorld(h)
  T1 = w.nodes.T1!.id!
  C1 = `control:${T1}`
  await write(6)
  await drain(h, true) // checkpoint at 6
  await write(6)
  await drain(h, true) // checkpoint at 12
  await write(3, w.nodes.T2!.id!)
  await write(2)
  await drain(h, true)
  admin = new pg.Client({ connectionString: DB_URL, options: `-c search_path=${h.s.db.schema}` })
  await admin.connect()
})
afterAll(async () => {
  await admin?.end()
  await h?.close()
})

describe('pruning', () => {
  it('refuses a size no signed checkpoint has: above the last checkpoint, or between two', async () => {
    const last = await lastCheckpoint(C1)
    expect(last).toBeGreaterThanOrEqual(12)
    await write(2)
    await drain(h)
    expect(await refusal(h.s.auditRetention.prune(C1, last + 1))).toBe('not_checkpointed')
    expect(await refusal(h.s.auditRetention.prune(C1, 7))).toBe('not_checkpointed')
    await expect(h.sql('SELECT * FROM audit_prune($1, 7, $2)', [C1, 'test'])).rejects.toThrow(/no signed checkpoint/)
    expect((await h.sql('SELECT count(*)::int AS n FROM audit_entries WHERE chain = $1 AND seq < 7', [C1]))[0].n).toBe(7)
  })

  it('prunes below a checkpoint: the chain still verifies from there, keeps its leaf hashes and serves proofs', async () => {
    const r = await h.s.auditRetention.prune(C1, 6)
    expect(r).toEqual({ chain: C1, from: 0, size: 6, entries: 6 })
    expect((await h.sql('SELECT min(seq)::int AS m FROM audit_entries WHERE chain = $1', [C1]))[0].m).toBe(6)
    expect((await h.sql('SELECT count(*)::int AS n FROM audit_nodes WHERE chain = $1 AND level = 0', [C1]))[0].n).toBe(6)
    const [rec] = await h.sql('SELECT from_seq, size, pruned_by, note FROM audit_prunes WHERE chain = $1', [C1])
    expect({ from: Number(rec.from_seq), size: Number(rec.size), by: rec.pruned_by }).toEqual({ from: 0, size: 6, by: 'audit retention' })
    expect(rec.note).toMatch(new RegExp(`^cfp-audit/${C1}\\n6\\n`))
    await drain(h)
    const [pruned] = (await entries(h, 'chain = $1 AND kind = $2', [C1, 'audit.pruned'])).map((e) => e.details)
    expect(pruned).toMatchObject({ chain: C1, from: 0, size: 6, entries: 6 })

    const v = await resultOf(queryOf(h.s.db), C1)
    expect(v).toMatchObject({ ok: true, from: 6 })
    // a proof reaching into the pruned range reads the kept leaf hashes
    const [cp12] = await h.sql('SELECT root FROM audit_checkpoints WHERE chain = $1 AND size = 12', [C1])
    const root5 = await rootAt(h.s.db, C1, 5)
    expect(
      verifyConsistency(
        5,
        12,
        root5,
        cp12.root,
        (await consistencyProof(h.s.db, C1, 5, 12)).map((x) => Buffer.from(x, 'hex')),
      ),
    ).toBe(true)
    const [leaf7] = await h.sql('SELECT leaf_hash FROM audit_entries WHERE chain = $1 AND seq = 7', [C1])
    expect(
      verifyInclusion(
        leaf7.leaf_hash,
        7,
        12,
        (await inclusionProof(h.s.db, C1, 7, 12)).map((x) => Buffer.from(x, 'hex')),
        cp12.root,
      ),
    ).toBe(true)
    expect(await refusal(h.s.auditRetention.prune(C1, 6))).toBe('already')
  })

  it('a legal hold blocks pruning until released; a tenant places it, only the platform releases it (audited, refusals too)', async () => {
    const who = (name: string) => ({ token: w.byName(name).token })
    const url = `/v1/tenants/${T1}/audit/holds`
    expect((await h.request('POST', url, { ...who('t_viewer'), body: { reason: 'litigation 42' } })).status).toBe(403)
    expect((await h.request('POST', url, { ...who('t_admin'), body: {} })).status).toBe(400)
    const placed = await h.request('POST', url, { ...who('t_admin'), body: { reason: 'litigation 42' } })
    expect(placed.status).toBe(201)
    expect(await refusal(h.s.auditRetention.prune(C1, 12))).toBe('hold')
    await expect(h.sql('SELECT * FROM audit_prune($1, 12, $2)', [C1, 'test'])).rejects.toThrow(/legal hold/)
    const read = await h.request('GET', `/v1/tenants/${T1}/audit/retention`, who('auditor_t'))
    expect(read.status).toBe(200)
    expect(read.json.holds).toMatchObject([{ id: placed.json.id, reason: 'litigation 42', releasedAt: null }])
    expect(read.json.pruned).toMatchObject([{ chain: C1, size: 6 }])
    await expect(h.sql('DELETE FROM audit_holds')).rejects.toThrow(/only released/)

    // the audited party cannot release it: not its admin (who placed it), not the auditor it appointed, not a viewer
    for (const name of ['t_viewer', 't_admin', 'auditor_t']) {
      const r = await h.request('DELETE', `${url}/${placed.json.id}`, who(name))
      expect([name, r.status, r.json.error.code]).toEqual([name, 403, 'forbidden'])
    }
    expect((await h.request('GET', `/v1/tenants/${T1}/audit/retention`, who('t_admin'))).json.holds[0].releasedAt).toBeNull()
    const released = await h.request('DELETE', `${url}/${placed.json.id}`, who('auditor_sys'))
    expect(released.status).toBe(200)
    expect(released.json.releasedBy).toBe(w.byName('auditor_sys').userId)
    expect((await h.request('DELETE', `${url}/${placed.json.id}`, who('sys'))).status).toBe(404)
    await drain(h)
    const kinds = (await entries(h, 'chain = $1 AND kind LIKE $2', [C1, 'audit.hold.%'])).map((e) => [e.kind, e.actor.id, e.details.reason])
    expect(kinds).toEqual([
      ['audit.hold.placed', w.byName('t_admin').userId, 'litigation 42'],
      ['audit.hold.released', w.byName('auditor_sys').userId, 'litigation 42'],
    ])
    const denied = (await entries(h, 'chain = $1 AND kind = $2', [C1, 'authz.denied']))
      .filter((e) => e.details.permission === 'audit.hold.release')
      .map((e) => e.actor.id)
    expect(denied).toEqual([w.byName('t_viewer').userId, w.byName('t_admin').userId, w.byName('auditor_t').userId])
    expect(await h.s.auditRetention.prune(C1, 12)).toMatchObject({ from: 6, size: 12, entries: 6 })
    expect(await resultOf(queryOf(h.s.db), C1)).toMatchObject({ ok: true, from: 12 })
  })

  it('only the platform sets a retention, never below the floor; the scheduled round prunes what is past it', async () => {
    const url = `/v1/tenants/${T1}/audit/retention`
    const put = (name: string, days: number | null) => h.request('PUT', url, { token: w.byName(name).token, body: { days } })
    // the tenant's own administrator and appointed auditor may not shorten (or set) how long their evidence is kept
    for (const name of ['t_admin', 'auditor_t']) {
      const r = await put(name, 5)
      expect([name, r.status, r.json.error.code]).toEqual([name, 403, 'forbidden'])
    }
    const below = await put('sys', FLOOR - 1)
    expect(below.status).toBe(400)
    expect(below.json.error.code).toBe('invalid_request')
    expect(below.json.error.message).toMatch(new RegExp(`\`days\` must be at least ${FLOOR}\\b.*--audit-retention-min-days`))
    expect((await put('sys', 0)).status).toBe(400)
    const set = await put('auditor_sys', FLOOR)
    expect(set.status).toBe(200)
    expect(set.json).toMatchObject({ days: FLOOR, minDays: FLOOR })
    await drain(h, true)
    const changes = (await entries(h, 'chain = $1 AND kind = $2', [C1, 'audit.retention.set'])).map((e) => [e.actor.id, e.details])
    expect(changes).toEqual([[w.byName('auditor_sys').userId, { days: FLOOR, before: null }]])
    const denied = (await entries(h, 'chain = $1 AND kind = $2', [C1, 'authz.denied']))
      .filter((e) => e.details.permission === 'audit.retention.write')
      .map((e) => [e.actor.id, e.details.method])
    expect(denied).toEqual([
      [w.byName('t_admin').userId, 'PUT'],
      [w.byName('auditor_t').userId, 'PUT'],
    ])
    // a retention stored below the floor (before the floor was raised) counts as the floor
    await h.sql('UPDATE audit_retention SET days = 1 WHERE tenant = $1', [T1])
    clock.advance((FLOOR - 1) * 86_400_000)
    expect(await h.s.auditRetention.due()).toEqual([])
    const before = await lastCheckpoint(C1)
    clock.advance(2 * 86_400_000)
    await write(2)
    await drain(h, true)
    const done = await h.s.auditRetention.pruneDue()
    expect(done.map((d) => [d.chain, d.size])).toEqual([[C1, before]])
    expect(await resultOf(queryOf(h.s.db), C1)).toMatchObject({ ok: true, from: before })
    expect(await resultOf(queryOf(h.s.db), `control:${w.nodes.T2!.id}`)).toMatchObject({ ok: true, from: 0 })
    expect(await h.s.auditRetention.pruneDue()).toEqual([])
  })
})

describe('pruning cannot be forged', () => {
  /** Runs `tamper` as superuser with the triggers off, returns what the verifier says of C1, and rolls back. */
  async function tampered(tamper: (q: pg.Client) => Promise<void>) {
    await admin.query('BEGIN')
    try {
      await admin.query('ALTER TABLE audit_entries DISABLE TRIGGER USER')
      await tamper(admin)
      return await resultOf(queryOf(admin), C1)
    } finally {
      await admin.query('ROLLBACK')
    }
  }
  beforeAll(async () => {
    await write(4)
    await drain(h)
  })
  const pruned = async () => Number((await h.sql('SELECT max(size) AS n FROM audit_prunes WHERE chain = $1', [C1]))[0].n)

  it('rows deleted above the pruned range, without a pruning record, are missing', async () => {
    const p = await pruned()
    const r = await tampered(async (q) => {
      await q.query('DELETE FROM audit_entries WHERE chain = $1 AND seq = $2', [C1, p + 1])
    })
    expect(r).toMatchObject({ ok: false, finding: 'missing', seq: p + 1 })
    const first = await tampered(async (q) => {
      await q.query('DELETE FROM audit_entries WHERE chain = $1 AND seq = $2', [C1, p])
    })
    expect(first).toMatchObject({ ok: false, finding: 'missing', seq: p })
  })

  it('a forged pruning record at a size no checkpoint signs is bad_prune', async () => {
    const p = await pruned()
    const r = await tampered(async (q) => {
      // the true frontier at p + 1, as the pruning function would compute it: only the checkpoint is lacking
      const f = new Frontier()
      const { rows } = await q.query(
        'SELECT hash FROM (SELECT idx, hash FROM audit_nodes WHERE chain = $1 AND level = 0 UNION ALL SELECT seq, leaf_hash FROM audit_entries WHERE chain = $1) h WHERE idx <= $2 ORDER BY idx',
        [C1, p],
      )
      for (const row of rows) f.append(row.hash)
      await q.query(
        'INSERT INTO audit_prunes (chain, size, from_seq, frontier, prev, note, pruned_by) SELECT chain, $2, $3, $4, $5, note, $6 FROM audit_prunes WHERE chain = $1 AND size = $3',
        [C1, p + 1, p, Buffer.concat(f.hashes()), rows[p].hash, 'forger'],
      )
      await q.query('DELETE FROM audit_entries WHERE chain = $1 AND seq = $2', [C1, p])
    })
    expect(r).toMatchObject({ ok: false, finding: 'bad_prune', seq: p })
  })

  it('a true pruning record without its audit.pruned entry (audit_prune called behind the plane) is bad_prune', async () => {
    const p = await pruned()
    await write(2)
    await drain(h, true)
    const next = await lastCheckpoint(C1)
    expect(next).toBeGreaterThan(p)
    // a superuser prunes with the database function itself: a correct record, rows gone, but no entry in the chain
    const r = await tampered(async (q) => {
      await q.query('SELECT * FROM audit_prune($1, $2, $3)', [C1, next, 'superuser'])
    })
    expect(r).toMatchObject({ ok: false, finding: 'bad_prune', seq: next - 1 })
    expect((r as { detail: string }).detail).toMatch(new RegExp(`\\[${p}, ${next}\\) has no audit.pruned entry`))
    // an entry naming another range does not count
    const other = await tampered(async (q) => {
      await q.query('SELECT * FROM audit_prune($1, $2, $3)', [C1, next, 'superuser'])
      await audit({ clock }, q as never, undefined, {
        kind: 'audit.pruned',
        scope: { tenant: T1 },
        details: { chain: C1, from: p, size: next - 1, entries: next - 1 - p, checkpoint: next - 1 },
      })
    })
    expect(other).toMatchObject({ ok: false, finding: 'bad_prune' })
    // every earlier pruning, made by the plane, has its entry: the chain as it stands verifies
    expect(await resultOf(queryOf(h.s.db), C1)).toMatchObject({ ok: true, from: p })
  })

  it('pruning refuses a range with an entry edited behind the triggers (its hash recomputed too)', async () => {
    const p = await pruned()
    await write(2)
    await drain(h, true)
    const next = await lastCheckpoint(C1)
    await admin.query('BEGIN')
    try {
      await admin.query('ALTER TABLE audit_entries DISABLE TRIGGER USER')
      const edit = `UPDATE audit_entries SET leaf = replace(leaf, '"kind":"', '"kind":"x'),
                      leaf_hash = sha256('\\x00'::bytea || convert_to(replace(leaf, '"kind":"', '"kind":"x'), 'UTF8')) WHERE chain = $1 AND seq = $2`
      await admin.query(edit, [C1, p + 1])
      await admin.query('ALTER TABLE audit_entries ENABLE TRIGGER USER')
      await expect(admin.query('SELECT * FROM audit_prune($1, $2, $3)', [C1, next, 'test'])).rejects.toThrow(/do not give the root/)
    } finally {
      await admin.query('ROLLBACK')
    }
  })

  it('the application role can neither call audit_prune nor delete entries', async () => {
    const role = `cfp_audit_app_${randomBytes(4).toString('hex')}`
    await admin.query(`CREATE ROLE ${role} NOLOGIN`)
    try {
      await admin.query('SELECT audit_grant_app($1)', [role])
      await admin.query('BEGIN')
      await admin.query(`SET LOCAL ROLE ${role}`)
      await admin.query('SAVEPOINT a')
      await expect(admin.query('SELECT * FROM audit_prune($1, 12, $2)', [C1, 'app'])).rejects.toThrow(/permission denied for function audit_prune/)
      await admin.query('ROLLBACK TO SAVEPOINT a')
      await admin.query("SELECT set_config('cfp.audit_pruning', $1, true)", [C1])
      await expect(admin.query('DELETE FROM audit_entries WHERE chain = $1 AND seq = 0', [C1])).rejects.toThrow(/permission denied/)
      await admin.query('ROLLBACK TO SAVEPOINT a')
      await expect(
        admin.query("INSERT INTO audit_prunes (chain, size, from_seq, frontier, prev, note, pruned_by) VALUES ('x', 1, 0, $1, $1, 'n', 'app')", [
          Buffer.alloc(32),
        ]),
      ).rejects.toThrow(/permission denied/)
      await admin.query('ROLLBACK')
    } finally {
      await admin.query('ROLLBACK').catch(() => undefined)
      await admin.query(`DROP OWNED BY ${role}`)
      await admin.query(`DROP ROLE ${role}`)
    }
  })
})
