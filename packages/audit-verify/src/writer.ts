// What a writer needs beyond hashing: bounding an entry's sizes as docs/audit.md "Entries" requires, and appending
// the next entry of a chain from the chain's state (size, last leaf hash, frontier).
import { type AuditEntry, MAX_DETAILS_BYTES, MAX_STRING_BYTES, ZERO_HASH, entryLeaf, entryProblem } from './entry.js'
import { canonicalize } from './jcs.js'
import { Frontier, type PerfectNode, leafHash } from './merkle.js'

/** The longest prefix of `s` of at most `max` UTF-8 bytes that does not split a code point. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s
  let bytes = 0
  let i = 0
  for (const ch of s) {
    const n = Buffer.byteLength(ch)
    if (bytes + n > max) break
    bytes += n
    i += ch.length
  }
  return s.slice(0, i)
}

function cutStrings(v: unknown, cut: { any: boolean }): unknown {
  if (typeof v === 'string') {
    const t = truncateUtf8(v, MAX_STRING_BYTES)
    if (t !== v) cut.any = true
    return t
  }
  if (Array.isArray(v)) return v.map((x) => cutStrings(x, cut))
  if (typeof v === 'object' && v !== null) {
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) o[k] = cutStrings(x, cut)
    return o
  }
  return v
}

/**
 * The entry with its sizes bounded (docs/audit.md "Entries"): every string longer than 4,096 UTF-8 bytes, anywhere
 * (member names aside), is cut to its longest prefix within 4,096 bytes that does not split a code point, and if
 * one was, `details.truncated` is set to `true`; then, if the canonical form of `details` is over 16 KiB, it becomes
 * `{"original_bytes": N, "truncated": true}`, N the canonical size of `details` after cutting strings and before
 * adding `truncated`.
 */
export function boundEntry(entry: AuditEntry): AuditEntry {
  const cut = { any: false }
  const e = cutStrings(entry, cut) as AuditEntry
  const size = Buffer.byteLength(canonicalize(e.details))
  if (cut.any) e.details = { ...e.details, truncated: true }
  if (Buffer.byteLength(canonicalize(e.details)) > MAX_DETAILS_BYTES) e.details = { original_bytes: size, truncated: true }
  return e
}

/** A chain's state as a writer keeps it: its size, the last leaf hash (hex) and the frontier's hashes (hex). */
export interface ChainState {
  size: number
  prev: string
  frontier: string[]
}

export const EMPTY_CHAIN: ChainState = { size: 0, prev: ZERO_HASH, frontier: [] }

export interface Appended {
  entry: AuditEntry
  leaf: string
  /** lowercase hex */
  leafHash: string
  /** the perfect subtrees this entry completed: store them to answer proofs */
  nodes: PerfectNode[]
  /** the root after this entry, lowercase hex */
  root: string
  state: ChainState
}

/**
 * The next entry of a chain: `seq` and `prev` from the state, sizes bounded, checked with entryProblem (throws a
 * RangeError naming the problem), and the chain's new state.
 */
export function appendEntry(state: ChainState, fields: Omit<AuditEntry, 'v' | 'seq' | 'prev'>): Appended {
  const entry = boundEntry({ ...fields, v: 1, seq: state.size, prev: state.prev } as AuditEntry)
  const problem = entryProblem(entry)
  if (problem) throw new RangeError(`audit entry refused: ${problem}`)
  const leaf = entryLeaf(entry)
  const h = leafHash(leaf)
  const frontier = Frontier.from(
    state.size,
    state.frontier.map((x) => Buffer.from(x, 'hex')),
  )
  const nodes = frontier.append(h)
  const hex = h.toString('hex')
  return {
    entry,
    leaf,
    leafHash: hex,
    nodes,
    root: frontier.root().toString('hex'),
    state: { size: state.size + 1, prev: hex, frontier: frontier.hashes().map((x) => x.toString('hex')) },
  }
}
