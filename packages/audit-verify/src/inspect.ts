// Reading one stored entry: its leaf hash, the members the chain's links need, and whether the leaf is well formed
// and canonical. Pure and self-contained, so that it can run in worker threads (inspectInWorkers) while the main
// thread keeps the links and the frontier.
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { canonicalize } from './jcs.js'
import { leafHash } from './merkle.js'
import type { StoredEntry } from './verify.js'

/** Leaves larger than this are refused as edited: a writer's entry is at most ~16 KiB of details plus bounded strings. */
export const MAX_LEAF_BYTES = 256 * 1024
const HEX64 = /^[0-9a-f]{64}$/

export interface Parsed {
  chain: unknown
  seq: unknown
  prev: unknown
}

export interface Item {
  /** lowercase hex LH(leaf); empty when there is no leaf text */
  hash: string
  stored: string | null | undefined
  parsed: Parsed | null
  problem: string | null
}

export function inspect(e: unknown, canonical: boolean): Item {
  if (typeof e !== 'object' || e === null || typeof (e as StoredEntry).leaf !== 'string') {
    return { hash: '', stored: null, parsed: null, problem: 'the record has no leaf text' }
  }
  const { leaf, leaf_hash } = e as StoredEntry
  const item: Item = { hash: '', stored: leaf_hash, parsed: null, problem: null }
  if (leaf.length > MAX_LEAF_BYTES) {
    item.problem = `the leaf is larger than ${MAX_LEAF_BYTES} bytes`
    return item
  }
  item.hash = leafHash(leaf).toString('hex')
  let v: unknown
  try {
    v = JSON.parse(leaf)
  } catch {
    item.problem = 'the leaf is not JSON'
    return item
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    item.problem = 'the leaf is not a JSON object'
    return item
  }
  const o = v as Record<string, unknown>
  item.parsed = { chain: o.chain, seq: o.seq, prev: o.prev }
  if (o.v !== 1) item.problem = 'the leaf has no v: 1'
  else if (typeof o.chain !== 'string') item.problem = 'the leaf has no chain'
  else if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 0) item.problem = 'the leaf has no seq'
  else if (typeof o.prev !== 'string' || !HEX64.test(o.prev)) item.problem = 'the leaf has no prev'
  else if (canonical && !isCanonical(leaf, v)) item.problem = 'the leaf is not in RFC 8785 canonical form'
  return item
}

/** Every object's members in UTF-16 code unit order (as JSON.parse kept them from the text). */
function sortedDeep(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true
  if (Array.isArray(v)) return v.every(sortedDeep)
  let last: string | null = null
  for (const k in v) {
    if (last !== null && !(last < k)) return false
    last = k
    if (!sortedDeep((v as Record<string, unknown>)[k])) return false
  }
  return true
}

/**
 * Is `text` exactly the RFC 8785 form of `parsed` (its JSON.parse)? Fast path: JSON.stringify writes numbers and
 * strings as RFC 8785 does and keeps the text's member order, so equality plus sorted members settles it unless the
 * text escapes a surrogate (which may be lone). Anything else (integer-like member names, which JavaScript
 * enumerates first) falls back to the full canonicalization.
 */
function isCanonical(text: string, parsed: unknown): boolean {
  if (JSON.stringify(parsed) === text && sortedDeep(parsed) && !/\\u[dD][89a-fA-F]/.test(text)) return true
  try {
    return canonicalize(parsed) === text
  } catch {
    return false
  }
}

const BATCH = 1024

/**
 * inspect() over `workers` threads, in order, with at most 2 batches per worker in flight (bounded memory). The
 * workers are ended when the iteration ends, however it ends.
 */
export async function* inspectInWorkers(
  entries: Iterable<StoredEntry> | AsyncIterable<StoredEntry>,
  canonical: boolean,
  workers: number,
): AsyncGenerator<Item> {
  const n = Math.max(1, Math.min(workers, availableParallelism(), 16))
  const pool = Array.from({ length: n }, () => new Worker(new URL('./inspect-worker.js', import.meta.url)))
  const waiting = new Map<number, (items: Item[] | Error) => void>()
  for (const w of pool) {
    w.on('message', (m: { id: number; items: Item[] }) => {
      waiting.get(m.id)?.(m.items)
      waiting.delete(m.id)
    })
    w.on('error', (e) => {
      for (const r of waiting.values()) r(e)
      waiting.clear()
    })
  }
  let next = 0
  const send = (batch: StoredEntry[]): Promise<Item[]> => {
    const id = next++
    return new Promise<Item[] | Error>((resolve) => {
      waiting.set(id, resolve)
      pool[id % n]!.postMessage({ id, batch, canonical })
    }).then((r) => {
      if (r instanceof Error) throw r
      return r
    })
  }
  const inFlight: Promise<Item[]>[] = []
  try {
    let batch: StoredEntry[] = []
    for await (const e of entries as AsyncIterable<StoredEntry>) {
      batch.push(e && typeof e === 'object' ? { leaf: (e as StoredEntry).leaf, leaf_hash: (e as StoredEntry).leaf_hash } : (e as StoredEntry))
      if (batch.length === BATCH) {
        inFlight.push(send(batch))
        batch = []
        if (inFlight.length >= 2 * n) yield* await inFlight.shift()!
      }
    }
    if (batch.length) inFlight.push(send(batch))
    while (inFlight.length) yield* await inFlight.shift()!
  } finally {
    for (const p of inFlight) p.catch(() => {})
    await Promise.all(pool.map((w) => w.terminate()))
  }
}
