/** Test helpers for the audit chain: sequence what is queued, read a chain back and verify it with cfp-audit-verify. */
import { type ChainResult, verifyChain } from 'cfp-audit-verify'
import type { Harness } from './harness.js'

export interface Entry {
  chain: string
  seq: number
  kind: string
  actor: { type: string; id: string | null; name: string | null; auth: string | null }
  sid: string | null
  scope: { tenant: string | null; team: string | null; project: string | null }
  target: { type: string; id: string | null } | null
  outcome: { status: string; code: string | null }
  request: { id: string | null; trace: string | null; addr: string | null; ua: string | null }
  details: Record<string, unknown>
  prev: string
  time: string
}

/** Moves every queued entry into its chain (and signs due checkpoints; `force`: for every chain that grew). */
export const drain = (h: Harness, force = false) => h.s.sequencer.drain(force)

/** All entries (parsed leaves), every chain, in chain then seq order. */
export async function entries(h: Harness, where = 'true', params: unknown[] = []): Promise<Entry[]> {
  const rows = await h.sql(`SELECT leaf FROM audit_entries WHERE ${where} ORDER BY chain, seq`, params)
  return rows.map((r) => JSON.parse(r.leaf) as Entry)
}

/** The entries of one kind, after draining the queue. */
export async function ofKind(h: Harness, kind: string): Promise<Entry[]> {
  await drain(h)
  return entries(h, 'kind = $1', [kind])
}

/** Verifies one chain as stored (entries, checkpoints, keys) with the standalone verifier. */
export async function verifyStored(h: Harness, chain: string): Promise<ChainResult> {
  const rows = await h.sql("SELECT leaf, encode(leaf_hash, 'hex') AS leaf_hash FROM audit_entries WHERE chain = $1 ORDER BY seq", [chain])
  const cps = await h.sql('SELECT note FROM audit_checkpoints WHERE chain = $1 ORDER BY size', [chain])
  const keys = await h.sql('SELECT name, public_key, retired_at FROM audit_keys')
  return verifyChain(
    chain,
    rows.map((r) => ({ leaf: r.leaf, leaf_hash: r.leaf_hash })),
    cps.map((c) => c.note),
    keys.map((k) => ({ name: k.name, publicKey: k.public_key, retired: k.retired_at?.toISOString() ?? null })),
  )
}

/** Every chain id present. */
export async function chains(h: Harness): Promise<string[]> {
  return (await h.sql('SELECT DISTINCT chain FROM audit_entries ORDER BY chain')).map((r) => r.chain)
}
