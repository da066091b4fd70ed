/**
 * `cfp audit verify` and `cfp audit export`: the audit chains (docs/audit.md) read straight from a plane's
 * database and checked with `cfp-audit-verify`, the same code an external auditor runs on an exported bundle.
 *
 * Both planes keep their chains in tables of one shape: `audit_entries (chain, seq, leaf, leaf_hash)`,
 * `audit_checkpoints (chain, size, note)` and `audit_keys (name, public_key, retired_at)`. Nothing else is read
 * (the planes' heads and stored tree nodes are derived state a verifier must not trust).
 *
 * @example
 * cfp audit verify --database-url postgres://…/control --database-url postgres://…/runtime
 * cfp audit export --database-url postgres://…/control --tenant t_3kq9 --from 2026-12-01 --out dec.cfpaudit
 */
import { once } from 'node:events'
import { createWriteStream, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import {
  type Anchor,
  type BundleChain,
  type ChainStart,
  type ConsistencyProofRecord,
  type PublicAuditKey,
  type QueryFn,
  anchorName,
  bundleLines,
  checkAnchor,
  createAnchor,
  directoryAnchorStore,
  requestTimestamp,
  checkNote,
  consistencyProofFrom,
  Frontier,
  PAGE_ENTRIES,
  tableChains,
  tableCheckpoints,
  tableEntries,
  tableKeys,
  verifyTables,
} from 'cfp-audit-verify'
import pg from 'pg'
import { resolveDevDatabase } from '../util/dev-file.js'
import { CliError, messageOf } from '../util/errors.js'
import type { CommandIo } from '../util/io.js'

/** How often (entries) a long verification says how far it got. */
const PROGRESS_EVERY = 250_000
const CHAIN_ID = /^[A-Za-z0-9._:-]{1,200}$/

export interface AuditVerifyOptions {
  databaseUrl?: string[]
  schema?: string
  tenant?: string
  anchors?: string
  tsaCert?: string[]
  dir?: string
  json?: boolean
}

export interface AuditExportOptions {
  databaseUrl?: string[]
  schema?: string
  tenant: string
  from?: string
  to?: string
  out: string
  dir?: string
  force?: boolean
}

interface Db {
  url: string
  client: pg.Client
  label: string
}

function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparsable URL)'
  }
}

/** The databases named on the command line, else `DATABASE_URL`, else the running `cfp dev`'s embedded one. */
function databaseUrls(given: string[] | undefined, io: CommandIo, dir: string | undefined): string[] {
  if (given && given.length > 0) return given
  if (io.env.DATABASE_URL) return [io.env.DATABASE_URL]
  const dev = resolveDevDatabase(dir ?? io.cwd)
  if (dev) return [dev]
  throw new CliError('No database to read the audit chains from', {
    explanation: 'cfp audit reads the audit tables of a plane’s PostgreSQL database.',
    action: 'Pass --database-url URL (once per plane), set DATABASE_URL, or run it inside a project while `cfp dev` runs.',
    exitCode: 2,
  })
}

/**
 * Opens one connection per schema holding audit tables at `url`: the one named by `--schema`, else every schema
 * that has them (the control plane's `cfp_control` and the runtime's `cfp_runtime` may share a database).
 */
async function connect(url: string, schema: string | undefined): Promise<Db[]> {
  const open = async (s: string | null): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: url, application_name: 'cfp audit' })
    try {
      await client.connect()
      if (s) await client.query(`SET search_path TO ${pg.escapeIdentifier(s)}`)
      return client
    } catch (e) {
      await client.end().catch(() => {})
      throw new CliError(`Cannot connect to ${redact(url)}: ${messageOf(e)}`, { exitCode: 2, cause: e })
    }
  }
  const probe = await open(null)
  let schemas: string[]
  try {
    const { rows } = await probe.query<{ s: string }>(
      `SELECT table_schema AS s FROM information_schema.tables
        WHERE table_name IN ('audit_entries', 'audit_checkpoints', 'audit_keys') AND ($1::text IS NULL OR table_schema = $1)
        GROUP BY table_schema HAVING count(*) = 3 ORDER BY table_schema`,
      [schema ?? null],
    )
    schemas = rows.map((r) => r.s)
  } finally {
    await probe.end().catch(() => {})
  }
  if (schemas.length === 0) {
    throw new CliError(`${redact(url)} has no audit tables${schema ? ` in schema ${schema}` : ''}`, {
      explanation: 'Neither the control plane nor the runtime has created its audit chain in this database (or schema).',
      action: 'Check the URL (and --schema), and that the plane has started once with this database.',
      exitCode: 2,
    })
  }
  const out: Db[] = []
  for (const s of schemas) out.push({ url, client: await open(s), label: `${redact(url)} (schema ${s})` })
  return out
}

const q = (db: Db): QueryFn => db.client.query.bind(db.client) as unknown as QueryFn

/** A chain's checkpoints up to a size (all by default). */
async function checkpointNotes(db: Db, chain: string, upTo = Number.MAX_SAFE_INTEGER): Promise<{ size: number; note: string }[]> {
  return (await tableCheckpoints(q(db), chain)).filter((c) => c.size <= upTo)
}

const hasNodes = new WeakMap<Db, boolean>()

/** Leaf hashes of seq [from, to), streamed (a pruned entry's from the level-0 node the pruning kept). */
async function* leafHashes(db: Db, chain: string, from: number, to: number): AsyncGenerator<Buffer> {
  let after = from - 1
  if (!hasNodes.has(db)) {
    const { rows } = await db.client.query<{ present: boolean }>("SELECT to_regclass('audit_nodes') IS NOT NULL AS present")
    hasNodes.set(db, rows[0]!.present)
  }
  const sql = hasNodes.get(db)
    ? `SELECT seq, leaf_hash FROM (
         SELECT seq, leaf_hash FROM audit_entries WHERE chain = $1 AND seq > $2 AND seq < $3
         UNION ALL SELECT idx, hash FROM audit_nodes WHERE chain = $1 AND level = 0 AND idx > $2 AND idx < $3) h
        ORDER BY seq LIMIT $4`
    : 'SELECT seq, leaf_hash FROM audit_entries WHERE chain = $1 AND seq > $2 AND seq < $3 ORDER BY seq LIMIT $4'
  for (;;) {
    const { rows } = await db.client.query<{ seq: string; leaf_hash: Buffer }>(sql, [chain, after, to, PAGE_ENTRIES * 4])
    for (const r of rows) yield r.leaf_hash
    if (rows.length < PAGE_ENTRIES * 4) return
    after = Number(rows[rows.length - 1]!.seq)
  }
}

/** MTH of leaves [lo, hi) read from the database with O(log n) memory. */
async function rangeRoot(db: Db, chain: string, lo: number, hi: number): Promise<Buffer> {
  const f = new Frontier()
  let n = 0
  for await (const h of leafHashes(db, chain, lo, hi)) {
    f.append(h)
    n++
  }
  if (n !== hi - lo) throw new CliError(`Chain ${chain} has ${n} of the entries ${lo}..${hi - 1} needed for a proof`, { exitCode: 1 })
  return f.root()
}

/**
 * A consistency proof between sizes computed from the stored leaf hashes, bounded in memory: a first pass finds
 * which perfect subtrees the proof needs, each is then hashed by streaming its leaves, and a second pass builds the
 * proof from them.
 */
async function consistencyFromDb(db: Db, chain: string, first: number, second: number): Promise<string[]> {
  const wanted = new Map<string, [number, number]>()
  consistencyProofFrom(
    (level, index) => {
      wanted.set(`${level}/${index}`, [level, index])
      return Buffer.alloc(32)
    },
    first,
    second,
  )
  const known = new Map<string, Buffer>()
  for (const [key, [level, index]] of wanted) {
    const width = 2 ** level
    known.set(key, await rangeRoot(db, chain, index * width, (index + 1) * width))
  }
  return consistencyProofFrom((level, index) => known.get(`${level}/${index}`)!, first, second).map((h) => h.toString('hex'))
}

/** Where a range export begins: the frontier and last leaf hash of the tree of `size` entries. */
async function startAt(db: Db, chain: string, size: number): Promise<ChainStart> {
  const f = new Frontier()
  let last: Buffer | null = null
  for await (const h of leafHashes(db, chain, 0, size)) {
    f.append(h)
    last = h
  }
  if (f.size !== size) throw new CliError(`Chain ${chain} has only ${f.size} of its first ${size} entries; run cfp audit verify`, { exitCode: 1 })
  return { size, frontier: f.hashes().map((h) => h.toString('hex')), prev: last ? last.toString('hex') : '0'.repeat(64) }
}

function readAnchors(dir: string): { file: string; anchor: unknown }[] {
  const out: { file: string; anchor: unknown }[] = []
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (name.endsWith('.json')) {
        let anchor: unknown = null
        try {
          anchor = JSON.parse(readFileSync(p, 'utf8'))
        } catch {}
        out.push({ file: p, anchor })
      }
    }
  }
  if (!existsSync(dir)) throw new CliError(`No anchors directory ${dir}`, { exitCode: 2 })
  walk(dir)
  return out
}

function readCerts(files: string[] | undefined): X509Certificate[] {
  const out: X509Certificate[] = []
  for (const f of files ?? []) {
    const text = readFileSync(f, 'utf8')
    for (const pem of text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) out.push(new X509Certificate(pem))
  }
  return out
}

export interface ChainReport {
  database: string
  chain: string
  ok: boolean
  size?: number
  root?: string
  checkpointed?: number
  /** entries below this seq were pruned under a pruning record (docs/audit.md "Retention and legal hold") */
  pruned?: number
  seq?: number
  finding?: string
  detail?: string
}

/** Verifies every chain of every database; returns the exit code (0 intact, 1 a finding, 2 cannot run). */
export async function runAuditVerify(opts: AuditVerifyOptions, io: CommandIo): Promise<number> {
  if (opts.tenant !== undefined && !CHAIN_ID.test(opts.tenant))
    throw new CliError(`--tenant ${JSON.stringify(opts.tenant)} is not a tenant id`, { exitCode: 2 })
  const urls = databaseUrls(opts.databaseUrl, io, opts.dir)
  const anchors = opts.anchors ? readAnchors(opts.anchors) : []
  const certs = readCerts(opts.tsaCert)
  const reports: ChainReport[] = []
  const started = Date.now()
  let total = 0
  const dbs: Db[] = []
  for (const url of urls) dbs.push(...(await connect(url, opts.schema)))
  for (const db of dbs) {
    try {
      const result = await verifyTables(q(db), {
        tenant: opts.tenant,
        onProgress: (chain, n) => {
          if (!opts.json && n % PROGRESS_EVERY === 0) io.err(`  ${chain}: ${n.toLocaleString('en')} entries checked…`)
        },
      })
      const { keys, notes } = result
      const ids = result.chains.map((c) => c.chain)
      if (!opts.json) io.err(`${db.label}: ${ids.length} chain${ids.length === 1 ? '' : 's'}, ${keys.length} audit key${keys.length === 1 ? '' : 's'}`)
      for (const r of result.chains) {
        if (r.ok) {
          total += r.size - r.from
          reports.push({ database: db.label, chain: r.chain, ok: true, size: r.size, root: r.root, checkpointed: r.checkpointed, pruned: r.from })
        } else reports.push({ database: db.label, chain: r.chain, ok: false, seq: r.seq, finding: r.finding, detail: r.detail })
      }
      // Anchors of this database's plane: each must check out and name checkpoints this database holds.
      for (const { file, anchor } of anchors) {
        const a = anchor as Anchor | null
        const plane = a && typeof a.plane === 'string' ? a.plane : null
        const chainsOfPlane = ids.filter((c) => plane !== null && c.startsWith(`${plane}:`))
        if (plane !== null && chainsOfPlane.length === 0) continue
        const check = checkAnchor(anchor, keys, certs)
        const anchorChain = plane ? `${plane}:anchors` : 'anchors'
        if (!check.ok) {
          reports.push({ database: db.label, chain: anchorChain, ok: false, seq: 0, finding: 'bad_anchor', detail: `${file}: ${check.problem}` })
          continue
        }
        for (const note of a!.checkpoints) {
          const origin = note.slice(0, note.indexOf('\n'))
          const chain = origin.replace(/^cfp-audit\//, '')
          if (opts.tenant !== undefined && !chain.endsWith(`:${opts.tenant}`)) continue
          if (!notes.get(chain)?.has(note)) {
            const size = checkNote(note, keys).checkpoint?.size ?? 0
            reports.push({
              database: db.label,
              chain,
              ok: false,
              seq: Math.max(0, size - 1),
              finding: 'bad_anchor',
              detail: `${file} anchors a checkpoint of size ${size} that the database does not hold`,
            })
          }
        }
      }
    } finally {
      await db.client.end().catch(() => {})
    }
  }
  const bad = reports.filter((r) => !r.ok)
  if (opts.json) io.out(JSON.stringify({ ok: bad.length === 0, chains: reports, anchors: anchors.length }, null, 2))
  else {
    for (const r of reports) {
      if (r.ok) io.out(`ok    ${r.chain}  size ${r.size}  checkpointed ${r.checkpointed}  ${r.pruned ? `pruned 0..${r.pruned - 1}  ` : ''}root ${r.root}`)
      else io.out(`FAIL  ${r.chain}  seq ${r.seq}  ${r.finding}: ${r.detail}`)
    }
    const secs = (Date.now() - started) / 1000
    io.err(
      bad.length === 0
        ? `audit chains intact: ${reports.length} chain${reports.length === 1 ? '' : 's'}, ${total.toLocaleString('en')} entries, ${anchors.length} anchor${anchors.length === 1 ? '' : 's'} (${secs.toFixed(1)} s)`
        : `audit chains damaged: ${bad.length} of ${reports.length} chain${reports.length === 1 ? '' : 's'} failed`,
    )
  }
  return bad.length === 0 ? 0 : 1
}

function parseTime(value: string | undefined, flag: string): Date | null {
  if (value === undefined) return null
  const t = new Date(value)
  if (Number.isNaN(t.getTime()))
    throw new CliError(`${flag} ${JSON.stringify(value)} is not a time`, {
      action: 'Use an ISO 8601 date or time, e.g. 2026-12-01 or 2026-12-01T08:00:00Z.',
      exitCode: 2,
    })
  return t
}

/** The contiguous seq range [lo, hi) of a chain covering the entries timed within [from, to). */
async function rangeOf(db: Db, chain: string, from: Date | null, to: Date | null): Promise<{ lo: number; hi: number; size: number }> {
  const { rows } = await db.client.query<{ lo: string | null; hi: string | null; size: string | null }>(
    `SELECT min(seq) FILTER (WHERE ($2::timestamptz IS NULL OR time >= $2) AND ($3::timestamptz IS NULL OR time < $3)) AS lo,
            max(seq) FILTER (WHERE ($2::timestamptz IS NULL OR time >= $2) AND ($3::timestamptz IS NULL OR time < $3)) AS hi,
            max(seq) + 1 AS size
       FROM audit_entries WHERE chain = $1`,
    [chain, from, to],
  )
  const r = rows[0]!
  const size = r.size === null ? 0 : Number(r.size)
  if (r.lo === null) return { lo: size, hi: size, size }
  return { lo: Number(r.lo), hi: Number(r.hi) + 1, size }
}

/**
 * Writes a bundle of one tenant's chains (on every database given) for the time window: entries, the checkpoints
 * they reach, a consistency proof to the first checkpoint beyond a range that stops early, the public keys, and the
 * anchors found in `--anchors`. Streams to a temporary file renamed into place at the end.
 */
export async function runAuditExport(opts: AuditExportOptions & { anchors?: string }, io: CommandIo): Promise<number> {
  if (!CHAIN_ID.test(opts.tenant)) throw new CliError(`--tenant ${JSON.stringify(opts.tenant)} is not a tenant id`, { exitCode: 2 })
  const from = parseTime(opts.from, '--from')
  const to = parseTime(opts.to, '--to')
  if (from && to && from >= to) throw new CliError('--from must be before --to', { exitCode: 2 })
  if (existsSync(opts.out) && !opts.force) throw new CliError(`${opts.out} exists`, { action: 'Choose another --out or pass --force.', exitCode: 2 })
  const urls = databaseUrls(opts.databaseUrl, io, opts.dir)
  const anchors = opts.anchors ? readAnchors(opts.anchors).map((a) => a.anchor as Anchor) : []
  const dbs: Db[] = []
  const tmp = `${opts.out}.${process.pid}.partial`
  let exported = 0
  try {
    for (const url of urls) dbs.push(...(await connect(url, opts.schema)))
    const keys: { key: PublicAuditKey }[] = []
    for (const db of dbs) for (const k of await tableKeys(q(db))) keys.push({ key: k })
    const chainsOut = async function* (): AsyncGenerator<BundleChain> {
      for (const db of dbs) {
        for (const chain of await tableChains(q(db), opts.tenant)) {
          const { lo, hi, size } = await rangeOf(db, chain, from, to)
          const complete = hi === size
          const all = await checkpointNotes(db, chain)
          const inside = all.filter((c) => c.size >= lo && c.size <= hi)
          const proofs: ConsistencyProofRecord[] = []
          const beyond = complete ? undefined : all.find((c) => c.size > hi)
          if (beyond) proofs.push({ first: hi, second: beyond.size, path: await consistencyFromDb(db, chain, hi, beyond.size) })
          io.err(`  ${chain}: entries ${lo}..${hi - 1} of ${size}`)
          yield {
            chain,
            start: lo > 0 ? await startAt(db, chain, lo) : null,
            complete,
            checkpoints: [...inside, ...(beyond ? [beyond] : [])].map((c) => c.note),
            proofs,
            entries: (async function* () {
              for await (const e of tableEntries(q(db), chain, lo, hi)) {
                exported++
                yield e
              }
            })(),
          }
        }
      }
    }
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 })
    const failed = new Promise<never>((_, reject) => out.once('error', reject))
    failed.catch(() => {})
    for await (const line of bundleLines({
      created: new Date().toISOString(),
      plane: null,
      tenant: opts.tenant,
      keys,
      chains: chainsOut(),
      anchors: anchors.filter(
        (a) =>
          a &&
          typeof a === 'object' &&
          Array.isArray(a.checkpoints) &&
          a.checkpoints.some((n) => typeof n === 'string' && n.startsWith('cfp-audit/') && n.slice(0, n.indexOf('\n')).endsWith(`:${opts.tenant}`)),
      ),
    })) {
      if (!out.write(line)) await Promise.race([once(out, 'drain'), failed])
    }
    out.end()
    await Promise.race([once(out, 'finish'), failed])
    renameSync(tmp, opts.out)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  } finally {
    for (const db of dbs) await db.client.end().catch(() => {})
  }
  io.err(`wrote ${opts.out}: ${exported.toLocaleString('en')} entries of tenant ${opts.tenant}; check it offline with \`npx cfp-audit-verify ${opts.out}\``)
  return 0
}

export interface AuditAnchorOptions {
  databaseUrl?: string[]
  schema?: string
  tsaUrl: string
  tsaCert?: string[]
  out: string
  dir?: string
}

/**
 * Anchors the latest checkpoint of every chain: one anchor per plane found (`control`, `runtime`), timestamped by
 * the TSA at `--tsa-url` and written write-once under `--out`. Meant to run on a schedule (hourly) for a plane
 * that does not anchor by itself; the control plane does with `--audit-tsa-url`.
 */
export async function runAuditAnchor(opts: AuditAnchorOptions, io: CommandIo): Promise<number> {
  let tsa: URL
  try {
    tsa = new URL(opts.tsaUrl)
    if (tsa.protocol !== 'https:' && tsa.protocol !== 'http:') throw new Error('not http(s)')
  } catch {
    throw new CliError(`--tsa-url ${JSON.stringify(opts.tsaUrl)} is not an http(s) URL`, { exitCode: 2 })
  }
  const trusted = readCerts(opts.tsaCert)
  const urls = databaseUrls(opts.databaseUrl, io, opts.dir)
  const store = directoryAnchorStore(opts.out)
  const byPlane = new Map<string, string[]>()
  for (const url of urls) {
    for (const db of await connect(url, opts.schema)) {
      try {
        const { rows } = await db.client.query<{ note: string; chain: string }>(
          'SELECT DISTINCT ON (chain) chain, note FROM audit_checkpoints ORDER BY chain, size DESC',
        )
        for (const r of rows) {
          const plane = r.chain.slice(0, r.chain.indexOf(':'))
          if (!/^[a-z]{1,32}$/.test(plane)) continue
          byPlane.set(plane, [...(byPlane.get(plane) ?? []), r.note])
        }
      } finally {
        await db.client.end().catch(() => {})
      }
    }
  }
  if (byPlane.size === 0) {
    io.err('no checkpoints to anchor yet (a chain gets its first checkpoint after its first entries)')
    return 0
  }
  for (const [plane, notes] of byPlane) {
    let anchor: Anchor
    try {
      anchor = await createAnchor(plane, notes, (d) => requestTimestamp(d, { url: tsa.toString(), trusted }))
    } catch (e) {
      throw new CliError(`Cannot anchor the ${plane} plane: ${messageOf(e)}`, { exitCode: 1, cause: e })
    }
    const path = await store.put(anchorName(anchor), `${JSON.stringify(anchor, null, 2)}\n`)
    io.out(`anchored ${notes.length} checkpoint${notes.length === 1 ? '' : 's'} of the ${plane} plane: ${path}`)
  }
  return 0
}

// exported for tests
export const internals = { consistencyFromDb, startAt, rangeRoot }
