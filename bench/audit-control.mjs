#!/usr/bin/env node
// The control plane's audit chain under load (issue 10): appends/s through the real path — each write is its own
// transaction inserting one entry into audit_queue (what a change route does), while the sequencer leader moves
// them into their chains (seq, prev, RFC 8785 leaf, leaf hash, tree nodes) — against plain INSERTs of the same rows
// into an unaudited table in the same run; then inclusion and consistency proof latency at --proof-size entries.
//
//   plain        8 writers × --rows single-row INSERT transactions into a plain table (the baseline)
//   100 tenants  8 writers × --rows audited writes spread over 100 tenant chains, timed until all are sequenced
//   hot tenant   the same into one chain
//   proofs       a chain of --proof-size entries; p50/p99 of --proofs random inclusion and consistency proofs
//                (from stored nodes: two queries each), verified with cfp-audit-verify
//
// Usage: node bench/audit-control.mjs [--rows 2000] [--writers 8] [--proof-size 1000000] [--proofs 1000] [--no-notify]
// (--no-notify: the sequencer only polls, every 250 ms: what NOTIFY's commit-time lock costs the writers)
// Needs `npm run build -w packages/audit-verify -w packages/control-plane`. Its own schema, dropped at the end.
import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'

const ROOT = resolve(import.meta.dirname, '..')
const dist = (p) => import(pathToFileURL(join(ROOT, 'packages/control-plane/dist', p)).href)
const { openDb } = await dist('db/pool.js')
const { migrate } = await dist('db/migrate.js')
const { Sealer } = await dist('auth/secrets.js')
const { AuditKeys } = await dist('audit/keys.js')
const { Sequencer } = await dist('audit/sequencer.js')
const { audit } = await dist('audit/record.js')
const { inclusionProof, consistencyProof, rootAt } = await dist('audit/tree.js')
const { verifyInclusion, verifyConsistency } = await import(pathToFileURL(join(ROOT, 'packages/audit-verify/dist/index.js')).href)

const DB = process.env.CFP_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const opt = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const CFG = { rows: opt('rows', 2000), writers: opt('writers', 8), proofSize: opt('proof-size', 1_000_000), proofs: opt('proofs', 1000) }
const schema = `bench_audit_cp_${randomBytes(4).toString('hex')}`
const clock = { now: () => Date.now() }
const db = openDb(DB, schema, CFG.writers + 4)
const round = (x) => Math.round(x)
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]

const TENANTS = Array.from({ length: 100 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)
const event = (w, i, tenant) => ({
  kind: 'project.update',
  actor: { type: 'user', id: '11111111-1111-4111-8111-111111111111', name: null, auth: 'session' },
  sid: '22222222-2222-4222-8222-222222222222',
  scope: { tenant, team: '33333333-3333-4333-8333-333333333333', project: '44444444-4444-4444-8444-444444444444' },
  target: { type: 'project', id: '44444444-4444-4444-8444-444444444444' },
  details: { changed: ['name'], name: `bench ${w}/${i}` },
})

async function writers(fn) {
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CFG.writers }, (_, w) =>
      (async () => {
        for (let i = 0; i < CFG.rows; i++) await fn(w, i)
      })(),
    ),
  )
  return performance.now() - t0
}

async function count(sql) {
  return (await db.query(sql)).rows[0].n
}

try {
  await migrate(db)
  const keys = new AuditKeys(db, new Sealer(randomBytes(32).toString('base64')), clock)
  if (process.argv.includes('--no-notify')) await db.query('ALTER TABLE audit_queue DISABLE TRIGGER audit_queued')
  await db.query('CREATE TABLE plain_rows (id bigserial PRIMARY KEY, chain text NOT NULL, entry text NOT NULL)')
  const total = CFG.rows * CFG.writers
  console.log(`audit-control: ${CFG.writers} writers × ${CFG.rows} rows, schema ${schema}`)

  const plainMs = await writers((w, i) =>
    db.tx((c) =>
      c.query('INSERT INTO plain_rows (chain, entry) VALUES ($1, $2)', [
        `control:${TENANTS[(w * CFG.rows + i) % 100]}`,
        JSON.stringify(event(w, i, TENANTS[0])),
      ]),
    ),
  )
  const plain = (total / plainMs) * 1000
  console.log(`plain INSERTs          ${round(plain)} rows/s`)

  const results = {}
  for (const [name, pick] of [
    ['100 tenants', (w, i) => TENANTS[(w * CFG.rows + i) % 100]],
    ['hot tenant', () => TENANTS[0]],
  ]) {
    const seq = new Sequencer(db, DB, keys, clock)
    const before = await count('SELECT count(*)::int AS n FROM audit_entries')
    seq.start()
    const t0 = performance.now()
    await writers((w, i) => db.tx((c) => audit({ clock }, c, undefined, event(w, i, pick(w, i)))))
    while ((await count('SELECT count(*)::int AS n FROM audit_entries')) < before + total) await new Promise((r) => setTimeout(r, 10))
    const ms = performance.now() - t0
    await seq.stop()
    const rate = (total / ms) * 1000
    results[name] = rate
    console.log(`${name.padEnd(22)} ${round(rate)} appends/s (sequenced), ratio to plain ${(rate / plain).toFixed(2)}`)
  }

  // a chain of proofSize entries for proof latency: queued in bulk, then sequenced
  const chain = 'control:system'
  const entry = JSON.stringify({
    v: 1,
    time: new Date().toISOString(),
    kind: 'bench.entry',
    actor: { type: 'system', id: null, name: null, auth: 'system' },
    sid: null,
    scope: { tenant: null, team: null, project: null },
    target: null,
    outcome: { status: 'ok', code: null },
    request: { id: null, trace: null, addr: null, ua: null },
    details: {},
  })
  const seq = new Sequencer(db, DB, keys, clock, { batch: 5000, checkpointEvery: 1e12, checkpointSeconds: 1e9 })
  const t0 = performance.now()
  for (let done = 0; done < CFG.proofSize; done += 100_000) {
    await db.query('INSERT INTO audit_queue (chain, entry) SELECT $1, $2 FROM generate_series(1, $3)', [chain, entry, Math.min(100_000, CFG.proofSize - done)])
    await seq.drain()
  }
  const seqMs = performance.now() - t0
  console.log(`sequenced ${CFG.proofSize} entries into one chain in ${round(seqMs / 1000)} s (${round((CFG.proofSize / seqMs) * 1000)} entries/s, bulk-queued)`)
  const n = CFG.proofSize
  const root = await rootAt(db, chain, n)
  const incl = []
  const cons = []
  for (let k = 0; k < CFG.proofs; k++) {
    const m = Math.floor(Math.random() * n)
    let t = performance.now()
    const path = await inclusionProof(db, chain, m, n)
    incl.push(performance.now() - t)
    const lh = (await db.query('SELECT leaf_hash FROM audit_entries WHERE chain = $1 AND seq = $2', [chain, m])).rows[0].leaf_hash
    if (
      !verifyInclusion(
        lh,
        m,
        n,
        path.map((x) => Buffer.from(x, 'hex')),
        root,
      )
    )
      throw new Error(`inclusion proof of ${m} does not verify`)
    const first = 1 + Math.floor(Math.random() * (n - 1))
    t = performance.now()
    const cpath = await consistencyProof(db, chain, first, n)
    cons.push(performance.now() - t)
    if (
      k < 50 &&
      !verifyConsistency(
        first,
        n,
        await rootAt(db, chain, first),
        root,
        cpath.map((x) => Buffer.from(x, 'hex')),
      )
    )
      throw new Error(`consistency ${first}..${n} does not verify`)
  }
  console.log(`inclusion proof at ${n}:   p50 ${pct(incl, 50).toFixed(2)} ms, p99 ${pct(incl, 99).toFixed(2)} ms`)
  console.log(`consistency proof at ${n}: p50 ${pct(cons, 50).toFixed(2)} ms, p99 ${pct(cons, 99).toFixed(2)} ms`)
} finally {
  await db.close()
  const admin = new pg.Client({ connectionString: DB })
  await admin.connect()
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await admin.end()
}
