// `cfp audit verify` / `cfp audit export` against a real PostgreSQL: chains written the way both planes write them
// (docs/audit.md), then tampered with as a superuser would, and exported bundles checked by the standalone verifier.
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type AuditEntry, checkpointBody, entryLeaf, leafHash, MerkleTree, rawPublicKey, signCheckpoint, verifyBundle, ZERO_HASH } from 'cfp-audit-verify'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { captureIo } from '../test-support/fake-server.js'
import { CliError } from '../util/errors.js'
import { localTsa, serveTsa, type TsaServer } from 'cfp-audit-verify/testing'
import { runAuditAnchor, runAuditExport, runAuditVerify } from './audit.js'

// A database of its own, so that discovering "every schema with audit tables" sees only this test's.
const base = process.env.CFP_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const database = `cfp_cli_audit_${process.pid}_${Date.now().toString(36)}`
const url = (() => {
  const u = new URL(base)
  u.pathname = `/${database}`
  return u.toString()
})()
const schema = 'control_plane'
const other = 'runtime_plane'
let admin: pg.Client
const keyName = 'cfp-audit-control-1'
const { privateKey, publicKey } = generateKeyPairSync('ed25519')
const dir = mkdtempSync(join(tmpdir(), 'cfp-audit-cli-'))

const TABLES = `
  CREATE TABLE audit_entries (chain text, seq bigint, leaf text NOT NULL, leaf_hash bytea NOT NULL, time timestamptz NOT NULL,
    PRIMARY KEY (chain, seq));
  CREATE TABLE audit_checkpoints (chain text, size bigint, root bytea, note text NOT NULL, key_name text, PRIMARY KEY (chain, size));
  CREATE TABLE audit_keys (name text PRIMARY KEY, public_key bytea NOT NULL, retired_at timestamptz);`

function entry(chain: string, seq: number, prev: string, time: Date, tenant: string | null): AuditEntry {
  return {
    v: 1,
    chain,
    seq,
    time: time.toISOString(),
    kind: 'project.update',
    actor: { type: 'user', id: 'u_1', name: 'Ada', auth: 'session' },
    sid: 's_1',
    scope: { tenant, team: null, project: 'p_1' },
    target: { type: 'project', id: 'p_1' },
    outcome: { status: 'ok', code: null },
    request: { id: `r_${seq}`, trace: null, addr: '127.0.0.1', ua: 'test' },
    details: { n: seq },
    prev,
  }
}

/** Writes `n` entries of `chain` into `s`, a checkpoint at each size in `checkpointAt`, an hour apart from 2026-01-01. */
async function writeChain(s: string, chain: string, n: number, checkpointAt: number[]) {
  const tree = new MerkleTree()
  let prev = ZERO_HASH
  const tenant = chain.split(':')[1] === 'system' ? null : chain.split(':')[1]!
  for (let seq = 0; seq < n; seq++) {
    const time = new Date(Date.UTC(2026, 0, 1, seq))
    const leaf = entryLeaf(entry(chain, seq, prev, time, tenant))
    const h = leafHash(leaf)
    tree.append(h)
    await admin.query(`INSERT INTO ${s}.audit_entries VALUES ($1, $2, $3, $4, $5)`, [chain, seq, leaf, h, time])
    prev = h.toString('hex')
    if (checkpointAt.includes(seq + 1)) {
      const root = tree.root()
      const note = signCheckpoint(checkpointBody(`cfp-audit/${chain}`, seq + 1, root), keyName, privateKey)
      await admin.query(`INSERT INTO ${s}.audit_checkpoints VALUES ($1, $2, $3, $4, $5)`, [chain, seq + 1, root, note, keyName])
    }
  }
}

beforeAll(async () => {
  const root = new pg.Client({ connectionString: base })
  await root.connect()
  await root.query(`CREATE DATABASE ${database}`)
  await root.end()
  admin = new pg.Client({ connectionString: url })
  await admin.connect()
  for (const s of [schema, other]) {
    await admin.query(`CREATE SCHEMA ${s}; SET search_path TO ${s}; ${TABLES}`)
    await admin.query(`INSERT INTO ${s}.audit_keys VALUES ($1, $2, NULL)`, [keyName, rawPublicKey(publicKey)])
  }
  await admin.query('SET search_path TO public')
  await writeChain(schema, 'control:t_a', 40, [10, 25, 40])
  await writeChain(schema, 'control:t_b', 12, [12])
  await writeChain(schema, 'control:system', 3, [])
  await writeChain(other, 'runtime:t_a', 9, [4, 9])
}, 60_000)

afterAll(async () => {
  await admin?.end()
  const root = new pg.Client({ connectionString: base })
  await root.connect()
  await root.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  await root.end()
}, 60_000)

async function verify(extra: Partial<Parameters<typeof runAuditVerify>[0]> = {}) {
  const c = captureIo(dir)
  const code = await runAuditVerify({ databaseUrl: [url], schema, ...extra }, c.io)
  return { code, out: c.out.join('\n'), err: c.err.join('\n') }
}

/** Changes the tables as a superuser would, then runs `check` (callers restore what they changed). */
async function tampered(sql: string, params: unknown[], check: () => Promise<void>) {
  await admin.query(sql, params)
  await check()
}

describe('cfp audit verify', () => {
  it('says every chain is intact, with sizes and checkpoints', async () => {
    const r = await verify()
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/ok {4}control:t_a {2}size 40 {2}checkpointed 40/)
    expect(r.out).toMatch(/ok {4}control:t_b {2}size 12/)
    expect(r.out).toMatch(/ok {4}control:system {2}size 3 {2}checkpointed 0/)
    expect(r.err).toMatch(/audit chains intact: 3 chains, 55 entries/)
  })

  it('finds the chains of every schema of a database when no schema is named, and filters by tenant', async () => {
    const c = captureIo(dir)
    const code = await runAuditVerify({ databaseUrl: [url], tenant: 't_a', json: true }, c.io)
    expect(code).toBe(0)
    const report = JSON.parse(c.out.join('\n')) as { chains: { chain: string; size: number }[] }
    const mine = report.chains.filter((x) => x.chain === 'control:t_a' || x.chain === 'runtime:t_a')
    expect(mine.map((x) => [x.chain, x.size]).sort()).toEqual([
      ['control:t_a', 40],
      ['runtime:t_a', 9],
    ])
    expect(report.chains.every((x) => x.chain.endsWith(':t_a'))).toBe(true)
  })

  it('names the chain, the seq and the finding of an edited entry, and exits 1', async () => {
    const row = await admin.query(`SELECT leaf FROM ${schema}.audit_entries WHERE chain = 'control:t_a' AND seq = 17`)
    const leaf = row.rows[0].leaf as string
    await tampered(`UPDATE ${schema}.audit_entries SET leaf = $1 WHERE chain = 'control:t_a' AND seq = 17`, [leaf.replace('"n":17', '"n":71')], async () => {
      const r = await verify()
      expect(r.code).toBe(1)
      expect(r.out).toMatch(/FAIL {2}control:t_a {2}seq 17 {2}edited/)
      expect(r.out).toMatch(/ok {4}control:t_b/)
    })
    await admin.query(`UPDATE ${schema}.audit_entries SET leaf = $1 WHERE chain = 'control:t_a' AND seq = 17`, [leaf])
  })

  it('names a deleted entry as missing and a truncated tail as truncated', async () => {
    const saved = (await admin.query(`SELECT * FROM ${schema}.audit_entries WHERE chain = 'control:t_b' ORDER BY seq`)).rows
    const restore = async () => {
      await admin.query(`DELETE FROM ${schema}.audit_entries WHERE chain = 'control:t_b'`)
      for (const r of saved) await admin.query(`INSERT INTO ${schema}.audit_entries VALUES ($1, $2, $3, $4, $5)`, [r.chain, r.seq, r.leaf, r.leaf_hash, r.time])
    }
    await tampered(`DELETE FROM ${schema}.audit_entries WHERE chain = 'control:t_b' AND seq = 5`, [], async () => {
      const r = await verify({ tenant: 't_b' })
      expect(r.code).toBe(1)
      expect(r.out).toMatch(/FAIL {2}control:t_b {2}seq 5 {2}missing/)
    })
    await restore()
    await tampered(`DELETE FROM ${schema}.audit_entries WHERE chain = 'control:t_b' AND seq >= 10`, [], async () => {
      const r = await verify({ tenant: 't_b' })
      expect(r.code).toBe(1)
      expect(r.out).toMatch(/FAIL {2}control:t_b {2}seq 10 {2}truncated/)
    })
    await restore()
    expect((await verify({ tenant: 't_b' })).code).toBe(0)
  })

  it('refuses a bad tenant id and a database without audit tables with exit 2', async () => {
    await expect(verify({ tenant: "x' OR 1=1" })).rejects.toMatchObject({ exitCode: 2 })
    await expect(runAuditVerify({ databaseUrl: [url], schema: 'no_such_schema_here' }, captureIo(dir).io)).rejects.toBeInstanceOf(CliError)
  })
})

describe('cfp audit export', () => {
  it('writes a bundle of a time window that the standalone verifier accepts, with a proof to the next checkpoint', async () => {
    const out = join(dir, 'window.cfpaudit')
    const c = captureIo(dir)
    // entries 12..29 of control:t_a (hours 12..29): starts mid-chain, ends before the checkpoint at 40
    const code = await runAuditExport({ databaseUrl: [url], schema, tenant: 't_a', from: '2026-01-01T12:00:00Z', to: '2026-01-02T06:00:00Z', out }, c.io)
    expect(code).toBe(0)
    expect(c.err.join('\n')).toMatch(/control:t_a: entries 12\.\.29 of 40/)
    const result = await verifyBundle(out)
    expect(result).toMatchObject({ ok: true })
    if (!result.ok) return
    expect(result.chains).toEqual([expect.objectContaining({ chain: 'control:t_a', from: 12, size: 30, checkpointed: 40 })])
  })

  it('a bundle whose entry was changed after export fails offline, naming the seq', async () => {
    const out = join(dir, 'all.cfpaudit')
    expect(await runAuditExport({ databaseUrl: [url], schema, tenant: 't_a', out }, captureIo(dir).io)).toBe(0)
    expect(await verifyBundle(out)).toMatchObject({ ok: true })
    const text = readFileSync(out, 'utf8').replace('\\"n\\":33', '\\"n\\":34')
    const bad = join(dir, 'bad.cfpaudit')
    writeFileSync(bad, text)
    expect(await verifyBundle(bad)).toMatchObject({ ok: false, chain: 'control:t_a', seq: 33, finding: 'edited' })
  })

  it('never overwrites a file unless told to, and refuses a window that ends before it starts', async () => {
    const out = join(dir, 'exists.cfpaudit')
    writeFileSync(out, 'keep')
    await expect(runAuditExport({ databaseUrl: [url], schema, tenant: 't_a', out }, captureIo(dir).io)).rejects.toThrow(/exists/)
    expect(readFileSync(out, 'utf8')).toBe('keep')
    await expect(
      runAuditExport({ databaseUrl: [url], schema, tenant: 't_a', out: join(dir, 'x'), from: '2026-02-01', to: '2026-01-01' }, captureIo(dir).io),
    ).rejects.toThrow(/--from must be before --to/)
  })
})

describe('cfp audit anchor', () => {
  const tsa = localTsa()
  let server: TsaServer
  let tsaUrl: string
  beforeAll(async () => {
    server = await serveTsa(tsa)
    tsaUrl = server.url
  })
  afterAll(() => server.close())

  it('anchors each plane, and verify checks the anchors against the database', async () => {
    const out = mkdtempSync(join(tmpdir(), 'cfp-anchors-'))
    const caFile = join(out, 'ca.pem')
    writeFileSync(caFile, tsa.caPem)
    const store = join(out, 'store')
    const c = captureIo(dir)
    expect(await runAuditAnchor({ databaseUrl: [url], tsaUrl, tsaCert: [caFile], out: store }, c.io)).toBe(0)
    expect(c.out.join('\n')).toMatch(/anchored 2 checkpoints of the control plane/)
    expect(c.out.join('\n')).toMatch(/anchored 1 checkpoint of the runtime plane/)

    const ok = captureIo(dir)
    expect(await runAuditVerify({ databaseUrl: [url], anchors: store, tsaCert: [caFile] }, ok.io)).toBe(0)
    expect(ok.err.join('\n')).toMatch(/2 anchors/)

    // a checkpoint the anchor names is no longer in the database: the anchor says so
    await admin.query(`ALTER TABLE ${schema}.audit_checkpoints RENAME TO audit_checkpoints_real`)
    await admin.query(`CREATE TABLE ${schema}.audit_checkpoints AS SELECT * FROM ${schema}.audit_checkpoints_real WHERE NOT (chain = 'control:t_b')`)
    try {
      const bad = captureIo(dir)
      expect(await runAuditVerify({ databaseUrl: [url], schema, anchors: store, tsaCert: [caFile] }, bad.io)).toBe(1)
      expect(bad.out.join('\n')).toMatch(/FAIL {2}control:t_b {2}seq 11 {2}bad_anchor/)
    } finally {
      await admin.query(`DROP TABLE ${schema}.audit_checkpoints; ALTER TABLE ${schema}.audit_checkpoints_real RENAME TO audit_checkpoints`)
    }
    // an anchor checked against another authority's certificate fails
    const stranger = join(out, 'stranger.pem')
    writeFileSync(stranger, localTsa().caPem)
    const pinned = captureIo(dir)
    expect(await runAuditVerify({ databaseUrl: [url], anchors: store, tsaCert: [stranger] }, pinned.io)).toBe(1)
    expect(pinned.out.join('\n')).toMatch(/bad_anchor/)
  })

  it('refuses a TSA URL that is not http(s) and says so when the authority is unreachable', async () => {
    await expect(runAuditAnchor({ databaseUrl: [url], tsaUrl: 'file:///etc/passwd', out: dir }, captureIo(dir).io)).rejects.toMatchObject({ exitCode: 2 })
    await expect(runAuditAnchor({ databaseUrl: [url], tsaUrl: 'http://127.0.0.1:1/', out: join(dir, 'none') }, captureIo(dir).io)).rejects.toThrow(
      /not reachable/,
    )
  })
})
