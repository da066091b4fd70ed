// Verifying the chains stored in a plane's database (docs/audit.md): both planes keep them in tables of one shape —
// audit_entries (chain, seq, leaf, leaf_hash), audit_checkpoints (chain, size, note), audit_keys (name, public_key,
// retired_at), plus the pruning records audit_prunes (chain, size, from_seq, frontier, prev) where the plane prunes,
// each of which must have its `audit.pruned` entry in the chain (or in the outbox audit_queue) — and nothing
// else is read (heads and stored tree nodes are derived state a verifier must not trust).
// The database is reached through a query function, so this package keeps no dependency: pass node-postgres's
// `client.query.bind(client)` or anything with its shape.
import type { PublicAuditKey } from './checkpoint.js'
import { type ChainResult, type ChainStart, type StoredEntry, verifyChain } from './verify.js'

/** `(sql, params) => {rows}` — node-postgres's `query` fits. */
export type QueryFn = (sql: string, params?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>

/** Entries read per round trip: large enough to stream fast, small enough to keep memory flat. */
export const PAGE_ENTRIES = 5_000

const asBuffer = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array))

export async function tableKeys(query: QueryFn): Promise<PublicAuditKey[]> {
  const { rows } = await query('SELECT name, public_key, retired_at FROM audit_keys ORDER BY name')
  return rows.map((r) => ({
    name: String(r.name),
    publicKey: asBuffer(r.public_key),
    retired: r.retired_at ? new Date(r.retired_at as string | Date).toISOString() : null,
  }))
}

/** Every chain with an entry or a checkpoint (a chain truncated to nothing still has its checkpoints). */
export async function tableChains(query: QueryFn, tenant?: string): Promise<string[]> {
  const { rows } = await query(
    `SELECT chain FROM (SELECT DISTINCT chain FROM audit_entries UNION SELECT DISTINCT chain FROM audit_checkpoints) c
      WHERE $1::text IS NULL OR chain LIKE '%:' || $1::text ORDER BY chain`,
    [tenant ?? null],
  )
  return rows.map((r) => String(r.chain))
}

export async function tableCheckpoints(query: QueryFn, chain: string): Promise<{ size: number; note: string }[]> {
  const { rows } = await query('SELECT size, note FROM audit_checkpoints WHERE chain = $1 ORDER BY size', [chain])
  return rows.map((r) => ({ size: Number(r.size), note: String(r.note) }))
}

/**
 * Where a chain's stored entries begin: the latest pruning record (docs/audit.md "Retention and legal hold"), or
 * null when the chain was never pruned (or the database has no pruning records). Not trusted: the verifier requires
 * a signed checkpoint of exactly that size to sign the record's frontier.
 */
export async function tablePruned(query: QueryFn, chain: string): Promise<ChainStart | null> {
  const { rows: t } = await query("SELECT to_regclass('audit_prunes') IS NOT NULL AS present")
  if (!t[0]?.present) return null
  const { rows } = await query('SELECT size, frontier, prev FROM audit_prunes WHERE chain = $1 ORDER BY size DESC LIMIT 1', [chain])
  const r = rows[0]
  if (!r) return null
  const f = asBuffer(r.frontier)
  const frontier: string[] = []
  for (let i = 0; i + 32 <= f.length; i += 32) frontier.push(f.subarray(i, i + 32).toString('hex'))
  return { size: Number(r.size), frontier, prev: asBuffer(r.prev).toString('hex') }
}

/** The latest pruning record of a chain (entries `[from, size)` were removed by it), or null. */
export async function tableLatestPrune(query: QueryFn, chain: string): Promise<{ from: number; size: number } | null> {
  const { rows: t } = await query("SELECT to_regclass('audit_prunes') IS NOT NULL AS present")
  if (!t[0]?.present) return null
  const { rows } = await query('SELECT from_seq, size FROM audit_prunes WHERE chain = $1 ORDER BY size DESC LIMIT 1', [chain])
  return rows[0] ? { from: Number(rows[0].from_seq), size: Number(rows[0].size) } : null
}

/** Whether a parsed entry (or queued event) records the pruning of `[from, size)` of `chain`. */
const recordsPruning = (e: unknown, chain: string, from: number, size: number): boolean => {
  if (typeof e !== 'object' || e === null) return false
  const { kind, details } = e as { kind?: unknown; details?: Record<string, unknown> }
  return kind === 'audit.pruned' && details?.chain === chain && details.from === from && details.size === size
}

const parsed = (v: unknown): unknown => {
  if (typeof v !== 'string') return v
  try {
    return JSON.parse(v)
  } catch {
    return null
  }
}

/**
 * The latest pruning record of `chain` when it has no `audit.pruned` entry (same chain, `from` and `size`) at or
 * after `size` in the chain — nor in the plane's outbox (`audit_queue`, written in the pruning's own transaction,
 * so the sequencer appends it); null when it has one (or the chain was never pruned). The plane's pruning commits
 * the record and the entry together, so a record without one was made behind the plane: rows deleted and a record
 * written to hide it. Only the latest record is checked, and it is the one verification starts from: an earlier
 * record's entry may itself lie in a range pruned since.
 */
export async function unrecordedPrune(query: QueryFn, chain: string): Promise<{ from: number; size: number } | null> {
  const latest = await tableLatestPrune(query, chain)
  if (!latest) return null
  const { from, size } = latest
  const { rows } = await query('SELECT leaf FROM audit_entries WHERE chain = $1 AND seq >= $2 AND leaf LIKE \'%"kind":"audit.pruned"%\' ORDER BY seq', [
    chain,
    size,
  ])
  if (rows.some((r) => recordsPruning(parsed(String(r.leaf)), chain, from, size))) return null
  const { rows: q } = await query("SELECT to_regclass('audit_queue') IS NOT NULL AS present")
  if (!q[0]?.present) return latest
  const { rows: queued } = await query("SELECT to_jsonb(q) AS r FROM audit_queue q WHERE q.chain = $1 AND to_jsonb(q)::text LIKE '%audit.pruned%'", [chain])
  const inQueue = queued.some((r) => {
    const row = parsed(r.r) as Record<string, unknown> | null
    return recordsPruning(parsed(row?.entry ?? row?.event), chain, from, size)
  })
  return inQueue ? null : latest
}

/**
 * A chain's entries in seq order from `from` (inclusive) to `to` (exclusive), a page per round trip. Rows are
 * ordered by the stored `seq` column; the verifier checks each leaf's own seq against its position.
 */
export async function* tableEntries(
  query: QueryFn,
  chain: string,
  from = 0,
  to = Number.MAX_SAFE_INTEGER,
  onRow?: (n: number) => void,
): AsyncGenerator<StoredEntry> {
  let after = from - 1
  let n = 0
  for (;;) {
    const { rows } = await query('SELECT seq, leaf, leaf_hash FROM audit_entries WHERE chain = $1 AND seq > $2 AND seq < $3 ORDER BY seq LIMIT $4', [
      chain,
      after,
      to,
      PAGE_ENTRIES,
    ])
    for (const r of rows) {
      n++
      onRow?.(n)
      yield { leaf: String(r.leaf), leaf_hash: asBuffer(r.leaf_hash).toString('hex') }
    }
    if (rows.length < PAGE_ENTRIES) return
    after = Number(rows[rows.length - 1]!.seq)
  }
}

export interface TablesResult {
  ok: boolean
  chains: ChainResult[]
  /** entries verified in intact chains (pruned entries are not counted: a chain's result says `from`) */
  entries: number
  /** notes of every chain's checkpoints, for checking anchors against what the database holds */
  notes: Map<string, Set<string>>
  keys: PublicAuditKey[]
}

/** Verifies one stored chain: from its latest pruning record, if any, to its end. */
export async function verifyTableChain(
  query: QueryFn,
  chain: string,
  keys: PublicAuditKey[],
  checkpoints?: { size: number; note: string }[],
  onRow?: (n: number) => void,
): Promise<ChainResult> {
  const cps = checkpoints ?? (await tableCheckpoints(query, chain))
  const start = await tablePruned(query, chain)
  const result = await verifyChain(
    chain,
    tableEntries(query, chain, start?.size ?? 0, Number.MAX_SAFE_INTEGER, onRow),
    cps.map((c) => c.note),
    keys,
    start ? { start, pruned: true } : {},
  )
  if (!result.ok || !start) return result
  // The entries after the pruning verified; the pruning record they start from must have its `audit.pruned` entry.
  const missing = await unrecordedPrune(query, chain)
  if (!missing) return result
  return {
    ok: false,
    chain,
    seq: Math.max(0, missing.size - 1),
    finding: 'bad_prune',
    detail: `the pruning record of ${chain} [${missing.from}, ${missing.size}) has no audit.pruned entry in the chain: entries were removed without the plane's pruning`,
  }
}

/** Verifies every chain (of one tenant, when given) stored behind `query`. */
export async function verifyTables(
  query: QueryFn,
  opts: { tenant?: string; onProgress?: (chain: string, entries: number) => void } = {},
): Promise<TablesResult> {
  const keys = await tableKeys(query)
  const chains: ChainResult[] = []
  const notes = new Map<string, Set<string>>()
  let entries = 0
  for (const chain of await tableChains(query, opts.tenant)) {
    const cps = await tableCheckpoints(query, chain)
    notes.set(chain, new Set(cps.map((c) => c.note)))
    const r = await verifyTableChain(query, chain, keys, cps, (n) => opts.onProgress?.(chain, n))
    if (r.ok) entries += r.size - r.from
    chains.push(r)
  }
  return { ok: chains.every((c) => c.ok), chains, entries, notes, keys }
}
