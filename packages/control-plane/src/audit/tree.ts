/**
 * The RFC 9162 Merkle tree of one chain, kept incrementally (docs/audit.md, Hashes and Proofs).
 *
 * Appending: the *frontier* holds, for each set bit `l` of the tree's size, the hash of the pending perfect
 * subtree of 2^l leaves; appending a leaf merges equal-sized subtrees and yields every newly completed node, which
 * the sequencer stores in `audit_nodes` (level >= 1; level 0 is the leaf hash in `audit_entries`, or, once the
 * entry is pruned, a level-0 row of `audit_nodes`).
 *
 * Proofs: an inclusion or consistency proof (RFC 9162 §2.1.3.1, §2.1.4.1) is built by `cfp-audit-verify` from the
 * perfect subtrees it names (`inclusionProofNodes`, `consistencyProofNodes`, `rootNodes`): O(log n) of them, read
 * here in one query each for nodes and leaves, so a proof at a million entries costs two index lookups, not a
 * million hashes.
 */
import {
  consistencyProofFrom,
  consistencyProofNodes,
  emptyRoot,
  inclusionProofFrom,
  inclusionProofNodes,
  leafHash,
  nodeHash,
  type PerfectSubtrees,
  rootNodes,
  subtreeRoot,
} from 'cfp-audit-verify'
import type { Queryable } from '../db/pool.js'

export const EMPTY_ROOT = emptyRoot()
export const leafHashOf = (leaf: string | Buffer): Buffer => leafHash(leaf)

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
    h = nodeHash(frontier[l]!, h)
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
    if (Math.floor(size / 2 ** l) % 2 === 1) root = root ? nodeHash(frontier[l]!, root) : frontier[l]!
  }
  return root!
}

export const frontierToJson = (f: (Buffer | null)[]): string => JSON.stringify(f.map((h) => (h ? h.toString('hex') : null)))
export const frontierFromJson = (s: string): (Buffer | null)[] => (JSON.parse(s) as (string | null)[]).map((h) => (h ? Buffer.from(h, 'hex') : null))

/** Reads the stored perfect subtrees `nodes` of one chain (two queries whatever their number). */
async function stored(q: Queryable, chain: string, nodes: [number, number][]): Promise<PerfectSubtrees> {
  const key = (level: number, idx: number) => `${level}:${idx}`
  const leaves = nodes.filter(([l]) => l === 0).map(([, i]) => i)
  const inner = nodes.filter(([l]) => l > 0)
  const have = new Map<string, Buffer>()
  if (leaves.length > 0) {
    const { rows } = await q.query<{ seq: string; leaf_hash: Buffer }>(
      'SELECT seq, leaf_hash FROM audit_entries WHERE chain = $1 AND seq = ANY($2::bigint[])',
      [chain, leaves],
    )
    for (const r of rows) have.set(key(0, Number(r.seq)), r.leaf_hash)
    // a pruned leaf's hash stays as a level-0 node (migration 0014)
    for (const i of leaves) if (!have.has(key(0, i))) inner.push([0, i])
  }
  if (inner.length > 0) {
    const { rows } = await q.query<{ level: number; idx: string; hash: Buffer }>(
      `SELECT n.level, n.idx, n.hash FROM audit_nodes n
         JOIN unnest($2::smallint[], $3::bigint[]) AS w(level, idx) ON w.level = n.level AND w.idx = n.idx
        WHERE n.chain = $1`,
      [chain, inner.map(([l]) => l), inner.map(([, i]) => i)],
    )
    for (const r of rows) have.set(key(r.level, Number(r.idx)), r.hash)
  }
  return (level, idx) => {
    const h = have.get(key(level, idx))
    if (!h) throw new Error(`audit tree node (${level}, ${idx}) of ${chain} is missing`)
    return h
  }
}

/** The inclusion proof of leaf `m` in the chain's tree of size `n` (hex hashes). */
export async function inclusionProof(q: Queryable, chain: string, m: number, n: number): Promise<string[]> {
  const perfect = await stored(q, chain, inclusionProofNodes(m, n))
  return inclusionProofFrom(perfect, m, n).map((h) => h.toString('hex'))
}

/** The consistency proof between sizes `m` <= `n` of the chain's tree (hex hashes). */
export async function consistencyProof(q: Queryable, chain: string, m: number, n: number): Promise<string[]> {
  if (m === 0 || m === n) return []
  const perfect = await stored(q, chain, consistencyProofNodes(m, n))
  return consistencyProofFrom(perfect, m, n).map((h) => h.toString('hex'))
}

/** The root of the chain's tree at size `n`, from stored nodes. */
export async function rootAt(q: Queryable, chain: string, n: number): Promise<Buffer> {
  if (n === 0) return EMPTY_ROOT
  return subtreeRoot(await stored(q, chain, rootNodes(n)), 0, n)
}
