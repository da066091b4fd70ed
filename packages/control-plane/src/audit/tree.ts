/**
 * The RFC 9162 Merkle tree of one chain, kept incrementally (docs/audit.md, Hashes and Proofs).
 *
 * Appending: the *frontier* holds, for each set bit `l` of the tree's size, the hash of the pending perfect
 * subtree of 2^l leaves; appending a leaf merges equal-sized subtrees and yields every newly completed node, which
 * the sequencer stores in `audit_nodes` (level >= 1; level 0 is the leaf hash in `audit_entries`).
 *
 * Proofs: an inclusion or consistency proof (RFC 9162 §2.1.3.1, §2.1.4.1) is a list of subtree hashes
 * MTH(D[a..b]); every such range splits into O(log n) stored perfect subtrees, read in one query each for nodes and
 * leaves, so a proof at a million entries costs two index lookups, not a million hashes.
 */
import { createHash } from 'node:crypto'
import type { Queryable } from '../db/pool.js'

export const EMPTY_ROOT = createHash('sha256').digest()

export function leafHashOf(leaf: string | Buffer): Buffer {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(leaf)
    .digest()
}

export function nodeHashOf(l: Buffer, r: Buffer): Buffer {
  return createHash('sha256')
    .update(Buffer.from([1]))
    .update(l)
    .update(r)
    .digest()
}

export interface Node {
  level: number
  idx: number
  hash: Buffer
}

/** Appends one leaf hash to a tree of `size` leaves (mutating `frontier`); returns the completed nodes. */
export function appendLeaf(frontier: (Buffer | null)[], size: number, leaf: Buffer): Node[] {
  const nodes: Node[] = []
  let h = leaf
  let l = 0
  while (Math.floor(size / 2 ** l) % 2 === 1) {
    h = nodeHashOf(frontier[l]!, h)
    frontier[l] = null
    l++
    nodes.push({ level: l, idx: Math.floor(size / 2 ** l), hash: h })
  }
  frontier[l] = h
  return nodes
}

/** The root of a tree of `size` leaves from its frontier. */
export function rootOf(frontier: (Buffer | null)[], size: number): Buffer {
  if (size === 0) return EMPTY_ROOT
  let root: Buffer | undefined
  for (let l = 0; 2 ** l <= size; l++) {
    if (Math.floor(size / 2 ** l) % 2 === 1) root = root ? nodeHashOf(frontier[l]!, root) : frontier[l]!
  }
  return root!
}

export const frontierToJson = (f: (Buffer | null)[]): string => JSON.stringify(f.map((h) => (h ? h.toString('hex') : null)))
export const frontierFromJson = (s: string): (Buffer | null)[] => (JSON.parse(s) as (string | null)[]).map((h) => (h ? Buffer.from(h, 'hex') : null))

/** The largest power of two smaller than n (n > 1). */
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

type Range = [number, number]

/** RFC 9162 §2.1.3.1 PATH(m, D[a..b]) as the ranges whose hashes form the audit path, leaf side first. */
export function inclusionRanges(m: number, a: number, b: number): Range[] {
  if (b - a <= 1) return []
  const k = split(b - a)
  return m < a + k ? [...inclusionRanges(m, a, a + k), [a + k, b]] : [...inclusionRanges(m, a + k, b), [a, a + k]]
}

/** RFC 9162 §2.1.4.1 SUBPROOF(m, D[a..b], start) as ranges; m is an absolute size. */
export function consistencyRanges(m: number, a: number, b: number, start: boolean): Range[] {
  if (m === b) return start ? [] : [[a, b]]
  const k = split(b - a)
  return m <= a + k ? [...consistencyRanges(m, a, a + k, start), [a + k, b]] : [...consistencyRanges(m, a + k, b, false), [a, a + k]]
}

/** The stored perfect subtrees (level, index) whose hashes give MTH(D[a..b]). */
function parts(a: number, b: number, out: Node[]): void {
  const n = b - a
  if (n === 1) {
    out.push({ level: 0, idx: a, hash: EMPTY_ROOT })
    return
  }
  if ((n & (n - 1)) === 0 && a % n === 0) {
    out.push({ level: Math.log2(n), idx: a / n, hash: EMPTY_ROOT })
    return
  }
  const k = split(n)
  parts(a, a + k, out)
  parts(a + k, b, out)
}

const key = (level: number, idx: number) => `${level}:${idx}`

/** Reads the stored hashes MTH(D[a..b]) for each range of one chain (two queries whatever the count). */
export async function rangeHashes(q: Queryable, chain: string, ranges: Range[]): Promise<Buffer[]> {
  const wanted: Node[] = []
  for (const [a, b] of ranges) parts(a, b, wanted)
  const leaves = [...new Set(wanted.filter((p) => p.level === 0).map((p) => p.idx))]
  const inner = wanted.filter((p) => p.level > 0)
  const have = new Map<string, Buffer>()
  if (leaves.length > 0) {
    const { rows } = await q.query<{ seq: string; leaf_hash: Buffer }>(
      'SELECT seq, leaf_hash FROM audit_entries WHERE chain = $1 AND seq = ANY($2::bigint[])',
      [chain, leaves],
    )
    for (const r of rows) have.set(key(0, Number(r.seq)), r.leaf_hash)
  }
  if (inner.length > 0) {
    const { rows } = await q.query<{ level: number; idx: string; hash: Buffer }>(
      `SELECT n.level, n.idx, n.hash FROM audit_nodes n
         JOIN unnest($2::smallint[], $3::bigint[]) AS w(level, idx) ON w.level = n.level AND w.idx = n.idx
        WHERE n.chain = $1`,
      [chain, inner.map((p) => p.level), inner.map((p) => p.idx)],
    )
    for (const r of rows) have.set(key(r.level, Number(r.idx)), r.hash)
  }
  const mth = (a: number, b: number): Buffer => {
    const n = b - a
    if (n === 1 || ((n & (n - 1)) === 0 && a % n === 0)) {
      const h = have.get(key(Math.log2(n), a / n))
      if (!h) throw new Error(`audit tree node for [${a}, ${b}) of ${chain} is missing`)
      return h
    }
    const k = split(n)
    return nodeHashOf(mth(a, a + k), mth(a + k, b))
  }
  return ranges.map(([a, b]) => mth(a, b))
}

/** The inclusion proof of leaf `m` in the chain's tree of size `n` (hex hashes). */
export async function inclusionProof(q: Queryable, chain: string, m: number, n: number): Promise<string[]> {
  return (await rangeHashes(q, chain, inclusionRanges(m, 0, n))).map((h) => h.toString('hex'))
}

/** The consistency proof between sizes `m` <= `n` of the chain's tree (hex hashes). */
export async function consistencyProof(q: Queryable, chain: string, m: number, n: number): Promise<string[]> {
  if (m === 0 || m === n) return []
  return (await rangeHashes(q, chain, consistencyRanges(m, 0, n, true))).map((h) => h.toString('hex'))
}

/** The root of the chain's tree at size `n`, from stored nodes. */
export async function rootAt(q: Queryable, chain: string, n: number): Promise<Buffer> {
  if (n === 0) return EMPTY_ROOT
  return (await rangeHashes(q, chain, [[0, n]]))[0]!
}
