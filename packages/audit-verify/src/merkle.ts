// RFC 9162 §2.1: the Merkle tree of a chain's leaves, its inclusion and consistency proofs, and their verification.
// Sizes and indexes are JavaScript numbers (safe integers); shifts are done by division because `>>` is 32-bit.
import * as crypto from 'node:crypto'

const { createHash } = crypto
const LEAF = Buffer.from([0])
const NODE = Buffer.from([1])
// crypto.hash (Node ≥ 20.12) hashes in one call, about twice as fast as a Hash object for small inputs.
const oneShot = (crypto as unknown as { hash?: (alg: string, data: string | Uint8Array, enc: 'buffer') => Buffer }).hash

/** LH(leaf) = SHA-256(0x00 || leaf); a string leaf is hashed as its UTF-8 bytes. */
export function leafHash(leaf: Uint8Array | string): Buffer {
  // U+0000 encodes as the single byte 0x00 in UTF-8.
  if (oneShot && typeof leaf === 'string') return oneShot('sha256', `\u0000${leaf}`, 'buffer')
  return createHash('sha256').update(LEAF).update(leaf).digest()
}

/** NH(l, r) = SHA-256(0x01 || l || r). */
export function nodeHash(l: Uint8Array, r: Uint8Array): Buffer {
  if (oneShot) return oneShot('sha256', Buffer.concat([NODE, l, r]), 'buffer')
  return createHash('sha256').update(NODE).update(l).update(r).digest()
}

/** MTH({}) = SHA-256(""). */
export function emptyRoot(): Buffer {
  return createHash('sha256').digest()
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative safe integer, not ${n}`)
}

/** The largest power of two strictly smaller than n (n > 1). */
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

const half = (x: number) => Math.floor(x / 2)
const odd = (x: number) => x % 2 === 1

/**
 * Where proofs get the hashes of perfect subtrees: `perfect(level, index)` is MTH of leaves
 * [index·2^level, (index+1)·2^level). A store that keeps these (or a tree held in memory, below) answers proofs in
 * O(log² n) hash look-ups and no hashing; `subtreeRoot` combines them for ranges that are not perfect.
 */
export type PerfectSubtrees = (level: number, index: number) => Buffer

export interface PerfectNode {
  level: number
  index: number
  hash: Buffer
}

/** The perfect subtrees (level, index) that `build` asks for: what a store must fetch to answer it. */
function nodesFor(build: (perfect: PerfectSubtrees) => unknown): [number, number][] {
  const seen = new Map<string, [number, number]>()
  const zero = Buffer.alloc(32)
  build((level, index) => {
    seen.set(`${level}/${index}`, [level, index])
    return zero
  })
  return [...seen.values()]
}

/** The (level, index) of every perfect subtree the inclusion proof of `index` in a tree of `size` is built from. */
export function inclusionProofNodes(index: number, size: number): [number, number][] {
  return nodesFor((p) => inclusionProofFrom(p, index, size))
}

/** The (level, index) of every perfect subtree the consistency proof between two sizes is built from. */
export function consistencyProofNodes(first: number, second: number): [number, number][] {
  return nodesFor((p) => consistencyProofFrom(p, first, second))
}

/** The (level, index) of every perfect subtree the root at `size` is built from. */
export function rootNodes(size: number): [number, number][] {
  return nodesFor((p) => subtreeRoot(p, 0, size))
}

/** MTH(D[lo:hi]) for a range that arises in the RFC's recursion (lo is a multiple of the range's split). */
export function subtreeRoot(perfect: PerfectSubtrees, lo: number, hi: number): Buffer {
  const n = hi - lo
  if (n === 0) return emptyRoot()
  if (isPow2(n)) return perfect(Math.log2(n), lo / n)
  // Not a perfect range: a right fold over the perfect pieces of n's binary decomposition, largest first.
  const pieces: Buffer[] = []
  let at = lo
  let rest = n
  while (rest > 0) {
    let k = 1
    while (k * 2 <= rest) k *= 2
    pieces.push(perfect(Math.log2(k), at / k))
    at += k
    rest -= k
  }
  let h = pieces[pieces.length - 1]!
  for (let i = pieces.length - 2; i >= 0; i--) h = nodeHash(pieces[i]!, h)
  return h
}

/**
 * A tree held in memory with every perfect subtree hash (about 2n hashes): appends are amortised O(1) hashing,
 * roots at any size and proofs between any sizes are O(log² n) look-ups.
 */
export class MerkleTree {
  private readonly levels: Buffer[][] = [[]]

  constructor(leafHashes: Iterable<Buffer> = []) {
    for (const h of leafHashes) this.append(h)
  }

  get size(): number {
    return this.levels[0]!.length
  }

  append(leafHash: Buffer): void {
    let h = leafHash
    let level = 0
    for (;;) {
      const row = this.levels[level]!
      row.push(h)
      if (row.length % 2 === 1) return
      h = nodeHash(row[row.length - 2]!, h)
      level++
      if (!this.levels[level]) this.levels.push([])
    }
  }

  readonly perfect: PerfectSubtrees = (level, index) => {
    const h = this.levels[level]?.[index]
    if (!h) throw new RangeError(`no perfect subtree at level ${level} index ${index}`)
    return h
  }

  root(size: number = this.size): Buffer {
    checkSize(size, 'size')
    if (size > this.size) throw new RangeError(`size ${size} exceeds the tree's ${this.size}`)
    return subtreeRoot(this.perfect, 0, size)
  }

  inclusionProof(index: number, size: number): Buffer[] {
    checkSize(size, 'size')
    if (size > this.size) throw new RangeError(`size ${size} exceeds the tree's ${this.size}`)
    return inclusionProofFrom(this.perfect, index, size)
  }

  consistencyProof(first: number, second: number): Buffer[] {
    checkSize(second, 'second')
    if (second > this.size) throw new RangeError(`second ${second} exceeds the tree's ${this.size}`)
    return consistencyProofFrom(this.perfect, first, second)
  }
}

/** RFC 9162 §2.1.3.1 PATH(m, D[0:n]), leaf to root, from perfect subtree hashes. */
export function inclusionProofFrom(perfect: PerfectSubtrees, index: number, size: number): Buffer[] {
  checkSize(index, 'index')
  checkSize(size, 'size')
  if (index >= size) throw new RangeError(`index ${index} is not below size ${size}`)
  const path: Buffer[] = []
  const walk = (m: number, lo: number, hi: number): void => {
    const n = hi - lo
    if (n === 1) return
    const k = split(n)
    if (m < k) {
      walk(m, lo, lo + k)
      path.push(subtreeRoot(perfect, lo + k, hi))
    } else {
      walk(m - k, lo + k, hi)
      path.push(subtreeRoot(perfect, lo, lo + k))
    }
  }
  walk(index, 0, size)
  return path
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[0:n]) for 0 < m < n; empty when m = 0 or m = n. */
export function consistencyProofFrom(perfect: PerfectSubtrees, first: number, second: number): Buffer[] {
  checkSize(first, 'first')
  checkSize(second, 'second')
  if (first > second) throw new RangeError(`first ${first} exceeds second ${second}`)
  const path: Buffer[] = []
  if (first === 0 || first === second) return path
  const sub = (m: number, lo: number, hi: number, b: boolean): void => {
    const n = hi - lo
    if (m === n) {
      if (!b) path.push(subtreeRoot(perfect, lo, hi))
      return
    }
    const k = split(n)
    if (m <= k) {
      sub(m, lo, lo + k, b)
      path.push(subtreeRoot(perfect, lo + k, hi))
    } else {
      sub(m - k, lo + k, hi, false)
      path.push(subtreeRoot(perfect, lo, lo + k))
    }
  }
  sub(first, 0, second, true)
  return path
}

/** MTH of the given leaf hashes. */
export function merkleRoot(leafHashes: Buffer[]): Buffer {
  return new MerkleTree(leafHashes).root()
}

/** PATH(index, D[0:size]) over the first `size` of the given leaf hashes. */
export function inclusionProof(leafHashes: Buffer[], index: number, size: number): Buffer[] {
  checkSize(size, 'size')
  if (size > leafHashes.length) throw new RangeError(`size ${size} exceeds the ${leafHashes.length} leaves given`)
  return new MerkleTree(leafHashes.slice(0, size)).inclusionProof(index, size)
}

/** PROOF(first, D[0:second]) over the first `second` of the given leaf hashes. */
export function consistencyProof(leafHashes: Buffer[], first: number, second: number): Buffer[] {
  checkSize(second, 'second')
  if (second > leafHashes.length) throw new RangeError(`second ${second} exceeds the ${leafHashes.length} leaves given`)
  return new MerkleTree(leafHashes.slice(0, second)).consistencyProof(first, second)
}

function isHash(b: unknown): b is Uint8Array {
  return b instanceof Uint8Array && b.length === 32
}

/** RFC 9162 §2.1.3.2: is `leafHash` the leaf at `index` of the tree of `size` with `root`? Never throws. */
export function verifyInclusion(leafHash: Uint8Array, index: number, size: number, proof: Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false
  if (!isHash(leafHash) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false
  let fn = index
  let sn = size - 1
  let r: Buffer = Buffer.from(leafHash)
  for (const p of proof) {
    if (sn === 0) return false
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r)
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn)
          sn = half(sn)
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = half(fn)
    sn = half(sn)
  }
  return sn === 0 && r.equals(root)
}

/**
 * RFC 9162 §2.1.4.2: is the tree of `second` leaves with `secondRoot` an extension of the tree of `first` leaves with
 * `firstRoot`? The RFC defines proofs for 0 < first < second; here first = second holds with an empty proof and
 * equal roots, and first = 0 holds with an empty proof when firstRoot is the empty tree's root. Never throws.
 */
export function verifyConsistency(first: number, second: number, firstRoot: Uint8Array, secondRoot: Uint8Array, proof: Uint8Array[]): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) return false
  if (!isHash(firstRoot) || !isHash(secondRoot) || !Array.isArray(proof) || !proof.every(isHash)) return false
  if (first === second) return proof.length === 0 && Buffer.from(firstRoot).equals(secondRoot)
  if (first === 0) return proof.length === 0 && emptyRoot().equals(firstRoot)
  if (proof.length === 0) return false
  // Step 2: when first is a power of two its root is a node of the second tree and the proof omits it.
  const path = isPow2(first) ? [firstRoot, ...proof] : [...proof]
  let fn = first - 1
  let sn = second - 1
  while (odd(fn)) {
    fn = half(fn)
    sn = half(sn)
  }
  let fr: Buffer = Buffer.from(path[0]!)
  let sr: Buffer = Buffer.from(path[0]!)
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!
    if (sn === 0) return false
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn)
          sn = half(sn)
        }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = half(fn)
    sn = half(sn)
  }
  return sn === 0 && fr.equals(firstRoot) && sr.equals(secondRoot)
}

function isPow2(n: number): boolean {
  if (n < 1) return false
  while (n > 1) {
    if (odd(n)) return false
    n = half(n)
  }
  return true
}

/**
 * The compact frontier of a tree: the roots of its perfect subtrees, largest first (one per set bit of the size).
 * A streaming verifier keeps only this — O(log n) hashes — and can give the root at the current size at any time.
 */
export class Frontier {
  private readonly stack: { size: number; hash: Buffer }[] = []
  private n = 0

  /** Start from a tree of `size` leaves whose perfect subtree roots (largest first) are `hashes`. */
  static from(size: number, hashes: Buffer[]): Frontier {
    checkSize(size, 'size')
    const f = new Frontier()
    let rest = size
    const sizes: number[] = []
    let bit = 1
    while (bit * 2 <= rest) bit *= 2
    while (rest > 0) {
      if (bit <= rest) {
        sizes.push(bit)
        rest -= bit
      }
      bit = half(bit)
    }
    if (sizes.length !== hashes.length) throw new RangeError(`a frontier of size ${size} has ${sizes.length} hashes, not ${hashes.length}`)
    sizes.forEach((s, i) => {
      if (!isHash(hashes[i])) throw new RangeError('a frontier hash must be 32 bytes')
      f.stack.push({ size: s, hash: Buffer.from(hashes[i]!) })
    })
    f.n = size
    return f
  }

  get size(): number {
    return this.n
  }

  /** The perfect subtree roots, largest first. */
  hashes(): Buffer[] {
    return this.stack.map((e) => e.hash)
  }

  /**
   * Appends a leaf hash; returns the perfect subtrees it completed (the leaf itself at level 0, then each node it
   * closed), which is what a writer stores to answer proofs later with inclusionProofFrom/consistencyProofFrom.
   */
  append(leafHash: Buffer): PerfectNode[] {
    const index = this.n
    let e = { size: 1, hash: leafHash }
    const done: PerfectNode[] = [{ level: 0, index, hash: leafHash }]
    let level = 0
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.size === e.size) {
      const l = this.stack.pop()!
      e = { size: e.size * 2, hash: nodeHash(l.hash, e.hash) }
      level++
      done.push({ level, index: Math.floor(index / e.size), hash: e.hash })
    }
    this.stack.push(e)
    this.n++
    return done
  }

  root(): Buffer {
    if (this.stack.length === 0) return emptyRoot()
    let h = this.stack[this.stack.length - 1]!.hash
    for (let i = this.stack.length - 2; i >= 0; i--) h = nodeHash(this.stack[i]!.hash, h)
    return h
  }
}
