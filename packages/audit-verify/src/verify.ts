// Streaming verification of one chain (docs/audit.md "Verification"): entries in order, checked leaf by leaf against
// their stored hashes, their chain, their sequence numbers and their `prev` links, while a Merkle frontier (O(log n)
// hashes) gives the root at every checkpointed size. The first problem is reported with the chain, the sequence
// number and the finding's name.
import { type PublicAuditKey, checkNote, parseCheckpointBody } from './checkpoint.js'
import { ZERO_HASH } from './entry.js'
import { type Item, inspect, inspectInWorkers } from './inspect.js'
import { Frontier, verifyConsistency } from './merkle.js'

export type Finding = 'edited' | 'missing' | 'reordered' | 'inserted' | 'moved' | 'truncated' | 'bad_checkpoint' | 'inconsistent' | 'bad_anchor' | 'bad_prune'

export interface StoredEntry {
  /** the leaf text (RFC 8785 JSON of the entry) */
  leaf: string
  /** the stored leaf hash, lowercase hex, where the store keeps one */
  leaf_hash?: string | null
}

export interface ConsistencyProofRecord {
  first: number
  second: number
  /** lowercase hex hashes */
  path: string[]
}

export interface ChainStart {
  /** the number of entries before the first one given (pruned or not exported) */
  size: number
  /** the perfect subtree roots of the tree of that size, largest first, lowercase hex */
  frontier: string[]
  /** the leaf hash of entry size-1, lowercase hex (64 zeros when size is 0) */
  prev: string
}

export interface VerifyOptions {
  /** where the given entries begin; default: at seq 0 */
  start?: ChainStart
  /**
   * true (default) when the entries run to the chain's end, so a checkpoint beyond them means the chain was truncated;
   * false for a range (an export), where a checkpoint beyond the last entry needs a consistency proof from it.
   */
  complete?: boolean
  /** consistency proofs for checkpoints outside the entries given */
  proofs?: ConsistencyProofRecord[]
  /** require every leaf to be exactly the RFC 8785 form of its parse (default true) */
  canonical?: boolean
  /**
   * `start` is a pruning record (the chain's head was pruned, docs/audit.md "Retention"): a signed checkpoint must
   * sign exactly `start.size` with the root of the starting frontier, else `bad_prune`.
   */
  pruned?: boolean
  /** parse and hash leaves in this many worker threads (default 0: in this thread) */
  workers?: number
}

export type ChainResult =
  | {
      ok: true
      chain: string
      /** the chain's size after the last entry */
      size: number
      /** the root at that size, lowercase hex */
      root: string
      /** the first sequence number verified */
      from: number
      /** the largest checkpointed size, 0 if none; entries at and after it are linked but not yet signed */
      checkpointed: number
      checkpoints: number
    }
  | { ok: false; chain: string; seq: number; finding: Finding; detail: string }

const HEX64 = /^[0-9a-f]{64}$/

interface PendingCheckpoint {
  size: number
  root: Buffer | null
  problem: string | null
  note: number
}

function proofKey(first: number, second: number): string {
  return `${first}-${second}`
}

function hexHashes(a: unknown): Buffer[] | null {
  if (!Array.isArray(a) || a.length > 128) return null
  const out: Buffer[] = []
  for (const h of a) {
    if (typeof h !== 'string' || !HEX64.test(h)) return null
    out.push(Buffer.from(h, 'hex'))
  }
  return out
}

/**
 * Verifies one chain. `entries` are the chain's stored entries in sequence order (an array, iterable or async
 * iterable, read once); `checkpoints` are signed notes; `keys` the audit public keys (current and retired).
 */
export async function verifyChain(
  chainId: string,
  entries: Iterable<StoredEntry> | AsyncIterable<StoredEntry>,
  checkpoints: string[],
  keys: PublicAuditKey[],
  options: VerifyOptions = {},
): Promise<ChainResult> {
  const canonical = options.canonical ?? true
  const complete = options.complete ?? true
  const fail = (seq: number, finding: Finding, detail: string): ChainResult => ({ ok: false, chain: chainId, seq: Math.max(0, seq), finding, detail })

  // Where the entries begin.
  let frontier = new Frontier()
  let prevHash = ZERO_HASH
  const start = options.start
  if (start) {
    try {
      const hashes = hexHashes(start.frontier)
      if (!hashes || typeof start.prev !== 'string' || !HEX64.test(start.prev)) throw new Error('bad start')
      frontier = Frontier.from(start.size, hashes)
      if ((start.size === 0) !== (start.prev === ZERO_HASH)) throw new Error('bad start prev')
      prevHash = start.prev
    } catch {
      const size = typeof start.size === 'number' ? start.size : 0
      if (options.pruned) return fail(size - 1, 'bad_prune', "the pruning record's frontier is malformed")
      return fail(size, 'edited', 'the starting frontier is malformed')
    }
  }
  const from = frontier.size

  // Checkpoints: signature and origin first, then their roots as the stream reaches their sizes.
  const origin = `cfp-audit/${chainId}`
  const pending: PendingCheckpoint[] = []
  checkpoints.forEach((note, i) => {
    const check = checkNote(note, keys)
    const body = typeof note === 'string' && note.includes('\n\n') ? parseCheckpointBody(note.slice(0, note.lastIndexOf('\n\n') + 1)) : null
    const size = check.checkpoint?.size ?? body?.size ?? from
    if (!check.checkpoint) pending.push({ size, root: null, problem: `checkpoint ${i} (size ${size}): ${check.problem}`, note: i })
    else if (check.checkpoint.origin !== origin)
      pending.push({ size, root: null, problem: `checkpoint ${i} is for origin ${JSON.stringify(check.checkpoint.origin)}, not ${origin}`, note: i })
    else pending.push({ size, root: check.checkpoint.root, problem: null, note: i })
  })
  pending.sort((a, b) => a.size - b.size || a.note - b.note)
  const proofs = new Map<string, Buffer[] | null>()
  for (const p of options.proofs ?? []) {
    if (typeof p === 'object' && p !== null && Number.isSafeInteger(p.first) && Number.isSafeInteger(p.second))
      proofs.set(proofKey(p.first, p.second), hexHashes(p.path))
  }
  let cp = 0
  let checkpointed = 0

  // The checkpoints of the next size: each must be signed, for this chain, and all must sign one root.
  const group = (): { size: number; root: Buffer } | ChainResult => {
    const size = pending[cp]!.size
    let root: Buffer | null = null
    let conflict = false
    while (cp < pending.length && pending[cp]!.size === size) {
      const c = pending[cp++]!
      if (c.problem) return fail(size - 1, 'bad_checkpoint', c.problem)
      if (root && !root.equals(c.root!)) conflict = true
      root ??= c.root
    }
    if (conflict) return fail(size - 1, 'inconsistent', `signed checkpoints of size ${size} have different roots`)
    return { size, root: root! }
  }
  const isResult = (g: { size: number; root: Buffer } | ChainResult): g is ChainResult => 'ok' in g

  // Checkpoints below the first entry given: checked by a consistency proof to the starting root, where given.
  const startRoot = frontier.root()
  while (cp < pending.length && pending[cp]!.size < from) {
    const g = group()
    if (isResult(g)) return g
    const path = proofs.get(proofKey(g.size, from))
    if (path !== undefined && (path === null || !verifyConsistency(g.size, from, g.root, startRoot, path)))
      return fail(g.size - 1, 'inconsistent', `the checkpoint of size ${g.size} does not extend to the tree of size ${from}`)
  }
  // Checkpoints at the size reached so far.
  const reach = (size: number): ChainResult | null => {
    if (cp >= pending.length || pending[cp]!.size !== size) return null
    const g = group()
    if (isResult(g)) return g
    if (!frontier.root().equals(g.root))
      return fail(size - 1, 'bad_checkpoint', `the checkpoint of size ${size} signs a root that differs from the recomputed one`)
    checkpointed = size
    return null
  }
  if (options.pruned && from > 0) {
    if (cp >= pending.length || pending[cp]!.size !== from)
      return fail(from - 1, 'bad_prune', `the chain is pruned below seq ${from} but no checkpoint signs size ${from}`)
    const g = group()
    if (isResult(g)) return g
    if (!startRoot.equals(g.root))
      return fail(from - 1, 'bad_prune', `the pruning record's frontier does not give the root the checkpoint of size ${from} signs`)
    checkpointed = from
  }
  const atStart = reach(from)
  if (atStart) return atStart

  // The stream, one entry behind so that the next entry can tell a gap from a swap.
  let prevPrevHash: string | null = null
  let prevLinkedPrev: string | null = null
  let current: Item | null = null
  let n = from
  const step = (item: Item, next: Item | null): ChainResult | null => {
    const i = n
    if (item.problem && !item.parsed) return fail(i, 'edited', item.problem)
    const h = item.hash
    if (item.stored !== undefined && item.stored !== null && item.stored !== h) return fail(i, 'edited', 'the leaf does not hash to its stored leaf hash')
    if (item.problem) return fail(i, 'edited', item.problem)
    const p = item.parsed!
    if (p.chain !== chainId) return fail(i, 'moved', `the entry belongs to chain ${JSON.stringify(p.chain)}`)
    const seq = p.seq as number
    if (seq > i) {
      const nextSeq = next?.parsed?.seq
      if (next && nextSeq !== seq + 1) return fail(i, 'reordered', `position ${i} holds seq ${seq}, followed by seq ${String(nextSeq)}`)
      return fail(i, 'missing', seq === i + 1 ? `seq ${i} is absent` : `seqs ${i}..${seq - 1} are absent`)
    }
    if (seq < i) {
      if (seq === i - 1 && p.prev === prevLinkedPrev) return fail(seq, 'inserted', `two entries claim seq ${seq}`)
      return fail(i, 'reordered', `position ${i} holds seq ${seq}`)
    }
    if (p.prev !== prevHash) {
      if (i - 1 > from && p.prev === prevPrevHash) return fail(i - 1, 'inserted', `the entry at seq ${i} links to seq ${i - 2}, skipping seq ${i - 1}`)
      if (i === from) return fail(i, 'edited', i === 0 ? 'the first entry does not link to 64 zeros' : 'the entry does not link to the chain before it')
      return fail(i - 1, 'edited', `the entry's hash differs from the next entry's prev`)
    }
    prevLinkedPrev = p.prev as string
    prevPrevHash = prevHash
    prevHash = h
    frontier.append(Buffer.from(h, 'hex'))
    n++
    return reach(n)
  }

  const feed = (item: Item): ChainResult | null => {
    const prior = current
    current = item
    return prior ? step(prior, item) : null
  }
  try {
    if ((options.workers ?? 0) > 0) {
      for await (const item of inspectInWorkers(entries, canonical, options.workers!)) {
        const bad = feed(item)
        if (bad) return bad
      }
    } else if (Symbol.asyncIterator in entries) {
      for await (const raw of entries as AsyncIterable<StoredEntry>) {
        const bad = feed(inspect(raw, canonical))
        if (bad) return bad
      }
    } else {
      // A synchronous source is read without a microtask per entry.
      for (const raw of entries as Iterable<StoredEntry>) {
        const bad = feed(inspect(raw, canonical))
        if (bad) return bad
      }
    }
  } catch (e) {
    return fail(n, 'edited', `reading the entries failed: ${(e as Error).message}`)
  }
  if (current) {
    const bad = step(current, null)
    if (bad) return bad
  }

  // Checkpoints beyond the last entry.
  const root = frontier.root()
  while (cp < pending.length) {
    const g = group()
    if (isResult(g)) return g
    if (complete) return fail(n, 'truncated', `a checkpoint signs size ${g.size} but the chain ends at ${n}`)
    const path = proofs.get(proofKey(n, g.size))
    if (!path || !verifyConsistency(n, g.size, root, g.root, path))
      return fail(n - 1, 'inconsistent', `no valid consistency proof from size ${n} to the checkpoint of size ${g.size}`)
    checkpointed = g.size
  }
  return { ok: true, chain: chainId, size: n, root: root.toString('hex'), from, checkpointed, checkpoints: pending.length }
}
