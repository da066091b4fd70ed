// Audit bundles: what `cfp audit export` writes and `cfp-audit-verify FILE` checks offline. JSON Lines (one JSON
// object per line, UTF-8, LF), streamable in both directions; the format is in docs/audit.md "Bundles".
import type { X509Certificate } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { type Anchor, checkAnchor } from './anchor.js'
import { type PublicAuditKey, formatVerifierKey, parseVerifierKey } from './checkpoint.js'
import { CHAIN_ID } from './entry.js'
import { type ChainStart, type ConsistencyProofRecord, type Finding, type StoredEntry, verifyChain } from './verify.js'

export const BUNDLE_TYPE = 'cfp-audit-bundle'
/** The longest line a verifier reads; longer is refused as malformed (a leaf is at most 256 KiB, escaped ≤ 6×). */
export const MAX_LINE_BYTES = 2 * 1024 * 1024

export interface BundleChain {
  chain: string
  start?: ChainStart | null
  /** true when the entries run to the chain's end at export time */
  complete: boolean
  checkpoints: string[]
  proofs?: ConsistencyProofRecord[]
  entries: Iterable<StoredEntry> | AsyncIterable<StoredEntry>
}

export interface BundleInput {
  created: string
  plane?: string | null
  tenant?: string | null
  keys: { key: PublicAuditKey | string; retired?: string | null }[]
  chains: Iterable<BundleChain> | AsyncIterable<BundleChain>
  anchors?: Anchor[]
}

/** The bundle's lines (each ending in "\n"), streamed: write them to a file or an HTTP response. */
export async function* bundleLines(input: BundleInput): AsyncGenerator<string> {
  const line = (o: unknown) => `${JSON.stringify(o)}\n`
  yield line({ type: BUNDLE_TYPE, v: 1, created: input.created, plane: input.plane ?? null, tenant: input.tenant ?? null })
  for (const k of input.keys) {
    const key = typeof k.key === 'string' ? k.key : formatVerifierKey(k.key.name, k.key.publicKey)
    yield line({ type: 'key', key, retired: k.retired ?? (typeof k.key === 'string' ? null : (k.key.retired ?? null)) })
  }
  let chains = 0
  let entries = 0
  for await (const c of input.chains as AsyncIterable<BundleChain>) {
    chains++
    yield line({ type: 'chain', chain: c.chain, start: c.start ?? null, complete: c.complete })
    for (const note of c.checkpoints) yield line({ type: 'checkpoint', note })
    for (const p of c.proofs ?? []) yield line({ type: 'proof', first: p.first, second: p.second, path: p.path })
    for await (const e of c.entries as AsyncIterable<StoredEntry>) {
      entries++
      yield line(e.leaf_hash ? { type: 'entry', leaf: e.leaf, leaf_hash: e.leaf_hash } : { type: 'entry', leaf: e.leaf })
    }
  }
  for (const a of input.anchors ?? []) yield line({ type: 'anchor', ...a })
  yield line({ type: 'end', chains, entries })
}

export interface VerifiedChain {
  chain: string
  from: number
  size: number
  root: string
  checkpointed: number
  checkpoints: number
}

export type BundleResult =
  | { ok: true; chains: VerifiedChain[]; entries: number; anchors: { time: string; genTime: string; tsa: string }[] }
  | { ok: false; chain: string; seq: number; finding: Finding | 'malformed'; detail: string; chains: VerifiedChain[] }

export interface BundleOptions {
  /** certificates of the time-stamping authority or its issuers; without them a token is checked for consistency only */
  tsaCerts?: X509Certificate[]
  /** public keys supplied by the auditor (verifier-key text); when given, keys in the bundle are ignored */
  keys?: string[]
  /** parse and hash leaves in this many worker threads (default 0) */
  workers?: number
}

/** Splits a byte stream into lines without ever holding more than MAX_LINE_BYTES of one line. */
async function* readLines(source: Iterable<Buffer> | AsyncIterable<Buffer | string>): AsyncGenerator<string | null> {
  let parts: Buffer[] = []
  let size = 0
  let tooLong = false
  for await (const chunk of source) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    for (;;) {
      const nl = buf.indexOf(10)
      const piece = nl < 0 ? buf : buf.subarray(0, nl)
      if (!tooLong) {
        if (size + piece.length > MAX_LINE_BYTES) {
          tooLong = true
          parts = []
        } else {
          parts.push(piece)
          size += piece.length
        }
      }
      if (nl < 0) break
      yield tooLong ? null : Buffer.concat(parts).toString('utf8')
      parts = []
      size = 0
      tooLong = false
      buf = buf.subarray(nl + 1)
    }
  }
  if (tooLong) yield null
  else if (size > 0) yield Buffer.concat(parts).toString('utf8')
}

type Rec = Record<string, unknown> & { type?: unknown }

/** Verifies a bundle from a file path or a byte stream; the first problem is reported. Never throws on bad input. */
export async function verifyBundle(source: string | Iterable<Buffer> | AsyncIterable<Buffer | string>, options: BundleOptions = {}): Promise<BundleResult> {
  const chains: VerifiedChain[] = []
  let current = '-'
  let lineNo = 0
  const malformed = (detail: string): BundleResult => ({ ok: false, chain: current, seq: 0, finding: 'malformed', detail: `line ${lineNo}: ${detail}`, chains })
  let stream: Iterable<Buffer> | AsyncIterable<Buffer | string>
  try {
    stream = typeof source === 'string' ? createReadStream(source) : source
  } catch (e) {
    return malformed(`cannot read: ${(e as Error).message}`)
  }
  const it = readLines(stream)[Symbol.asyncIterator]()
  let peeked: Rec | 'eof' | null = null
  let bad: string | null = null
  const next = async (): Promise<Rec | 'eof'> => {
    if (peeked) {
      const p = peeked
      peeked = null
      return p
    }
    for (;;) {
      const r = await it.next()
      if (r.done) return 'eof'
      lineNo++
      if (r.value === null) {
        bad = 'a line longer than 2 MiB'
        return { type: '#bad' }
      }
      if (r.value.trim() === '') continue
      try {
        const v = JSON.parse(r.value)
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Rec
        bad = 'a line is not a JSON object'
      } catch {
        bad = 'a line is not JSON'
      }
      return { type: '#bad' }
    }
  }
  const peek = async (): Promise<Rec | 'eof'> => {
    peeked ??= await next()
    return peeked
  }
  const peekType = async (): Promise<unknown> => {
    const p = await peek()
    return p === 'eof' ? null : p.type
  }

  try {
    const head = await next()
    if (head === 'eof' || head.type !== BUNDLE_TYPE || head.v !== 1) return malformed('not a cfp-audit-bundle v1 (the first line names the format)')
    // Keys.
    const keys: PublicAuditKey[] = []
    for (const text of options.keys ?? []) {
      const k = parseVerifierKey(text)
      if (!k) return malformed(`the key ${JSON.stringify(text.slice(0, 80))} is not a verifier key`)
      keys.push(k)
    }
    while ((await peekType()) === 'key') {
      const r = (await next()) as Rec
      if (options.keys) continue
      const k = typeof r.key === 'string' ? parseVerifierKey(r.key) : null
      if (!k) return malformed('a key record does not hold a verifier key')
      keys.push(k)
    }
    // Chains.
    const notes = new Map<string, Set<string>>()
    let entries = 0
    while ((await peekType()) === 'chain') {
      const c = (await next()) as Rec
      if (typeof c.chain !== 'string' || !CHAIN_ID.test(c.chain)) return malformed('a chain record has no valid chain id')
      current = c.chain
      if (chains.some((x) => x.chain === current)) return malformed(`chain ${current} appears twice`)
      const checkpoints: string[] = []
      const proofs: ConsistencyProofRecord[] = []
      for (;;) {
        const r = await peek()
        if (r === 'eof' || (r.type !== 'checkpoint' && r.type !== 'proof')) break
        await next()
        if (r.type === 'checkpoint') {
          if (typeof r.note !== 'string') return malformed('a checkpoint record has no note')
          if (checkpoints.length >= 1_000_000) return malformed('more than 1,000,000 checkpoints in a chain')
          checkpoints.push(r.note)
        } else {
          if (!Number.isSafeInteger(r.first) || !Number.isSafeInteger(r.second) || !Array.isArray(r.path))
            return malformed('a proof record is not {first, second, path}')
          proofs.push({ first: r.first as number, second: r.second as number, path: r.path as string[] })
        }
      }
      notes.set(`cfp-audit/${current}`, new Set(checkpoints))
      let count = 0
      const stream = async function* (): AsyncGenerator<StoredEntry> {
        for (;;) {
          const r = await peek()
          if (r === 'eof' || r.type !== 'entry') return
          await next()
          count++
          yield { leaf: r.leaf as string, leaf_hash: typeof r.leaf_hash === 'string' ? r.leaf_hash : undefined }
        }
      }
      const start = c.start === null || c.start === undefined ? undefined : (c.start as ChainStart)
      const result = await verifyChain(current, stream(), checkpoints, keys, { start, complete: c.complete !== false, proofs, workers: options.workers })
      if (bad) return malformed(bad)
      if (!result.ok) return { ...result, chains }
      entries += count
      chains.push({
        chain: current,
        from: result.from,
        size: result.size,
        root: result.root,
        checkpointed: result.checkpointed,
        checkpoints: result.checkpoints,
      })
    }
    current = '-'
    // Anchors.
    const anchors: { time: string; genTime: string; tsa: string }[] = []
    while ((await peekType()) === 'anchor') {
      const r = (await next()) as Rec
      const { type: _type, ...anchor } = r
      const check = checkAnchor(anchor, keys, options.tsaCerts)
      const anchored = Array.isArray(anchor.checkpoints) ? (anchor.checkpoints as unknown[]).filter((n): n is string => typeof n === 'string') : []
      // The anchor's checkpoint of a chain in this bundle must be one the bundle verified against that chain.
      let named: { chain: string; seq: number } | null = null
      for (const note of anchored) {
        const origin = note.slice(0, note.indexOf('\n'))
        const set = notes.get(origin)
        if (!set) continue
        const size = Number(note.split('\n')[1])
        if (!named || !set.has(note)) named = { chain: origin.slice('cfp-audit/'.length), seq: Math.max(0, (Number.isSafeInteger(size) ? size : 1) - 1) }
        if (!set.has(note))
          return { ok: false, ...named, finding: 'bad_anchor', detail: `the anchor of ${String(anchor.time)} holds a checkpoint the bundle does not`, chains }
      }
      if (!check.ok) return { ok: false, chain: named?.chain ?? '-', seq: named?.seq ?? 0, finding: 'bad_anchor', detail: check.problem!, chains }
      anchors.push({ time: anchor.time as string, genTime: check.genTime!, tsa: check.tsa! })
    }
    const end = await next()
    if (bad) return malformed(bad)
    if (end === 'eof') return { ok: false, chain: '-', seq: 0, finding: 'truncated', detail: 'the bundle has no end record: it was cut short', chains }
    if (end.type !== 'end') return malformed(`a ${JSON.stringify(String(end.type)).slice(0, 40)} record where the end record belongs`)
    if (end.chains !== chains.length || end.entries !== entries)
      return {
        ok: false,
        chain: '-',
        seq: 0,
        finding: 'truncated',
        detail: `the end record counts ${String(end.chains)} chains and ${String(end.entries)} entries, the bundle holds ${chains.length} and ${entries}`,
        chains,
      }
    if ((await next()) !== 'eof') return malformed('records after the end record')
    return { ok: true, chains, entries, anchors }
  } catch (e) {
    return malformed(`cannot read: ${(e as Error).message}`)
  }
}
