// Anchors (docs/audit.md "Anchors"): the latest checkpoints of a plane's chains bound into one digest, timestamped by
// an RFC 3161 authority and stored write-once.
import { type X509Certificate, createHash } from 'node:crypto'
import { type PublicAuditKey, checkNote } from './checkpoint.js'
import { canonicalize } from './jcs.js'
import { checkTimestamp } from './tsr.js'

export interface Anchor {
  v: 1
  plane: string
  time: string
  /** signed notes, sorted by origin */
  checkpoints: string[]
  /** lowercase hex SHA-256 of the RFC 8785 form of {v, plane, time, checkpoints} */
  digest: string
  /** base64 DER RFC 3161 TimeStampResp for the digest */
  tsr: string
}

const originOf = (note: string) => note.slice(0, Math.max(0, note.indexOf('\n')))

/** The anchor digest of {v: 1, plane, time, checkpoints}; checkpoints are sorted by origin first. */
export function anchorDigest(plane: string, time: string, checkpoints: string[]): { checkpoints: string[]; digest: Buffer } {
  const sorted = [...checkpoints].sort((a, b) => (originOf(a) < originOf(b) ? -1 : originOf(a) > originOf(b) ? 1 : 0))
  const digest = createHash('sha256')
    .update(canonicalize({ v: 1, plane, time, checkpoints: sorted }))
    .digest()
  return { checkpoints: sorted, digest }
}

export interface AnchorCheck {
  ok: boolean
  problem?: string
  genTime?: string
  tsa?: string
}

/** Checks an anchor's form, digest, checkpoint signatures and time-stamp token. Never throws. */
export function checkAnchor(anchor: unknown, keys: PublicAuditKey[], trusted: X509Certificate[] = []): AnchorCheck {
  const a = anchor as Anchor
  if (typeof a !== 'object' || a === null || a.v !== 1 || typeof a.plane !== 'string' || typeof a.time !== 'string')
    return { ok: false, problem: 'not an anchor' }
  if (!Array.isArray(a.checkpoints) || a.checkpoints.length > 100_000 || !a.checkpoints.every((c) => typeof c === 'string'))
    return { ok: false, problem: 'the anchor has no list of checkpoints' }
  if (typeof a.digest !== 'string' || typeof a.tsr !== 'string') return { ok: false, problem: 'the anchor has no digest or time-stamp token' }
  let computed: { checkpoints: string[]; digest: Buffer }
  try {
    computed = anchorDigest(a.plane, a.time, a.checkpoints)
  } catch {
    return { ok: false, problem: 'the anchor cannot be canonicalized' }
  }
  if (computed.checkpoints.some((c, i) => c !== a.checkpoints[i])) return { ok: false, problem: 'the anchor checkpoints are not sorted by origin' }
  if (computed.digest.toString('hex') !== a.digest) return { ok: false, problem: 'the anchor digest does not match its content' }
  for (const note of a.checkpoints) {
    const c = checkNote(note, keys)
    if (!c.checkpoint) return { ok: false, problem: `an anchored checkpoint (${originOf(note).slice(0, 200)}): ${c.problem}` }
  }
  const t = checkTimestamp(Buffer.from(a.tsr, 'base64'), computed.digest, trusted)
  if (!t.ok) return { ok: false, problem: t.problem! }
  return { ok: true, genTime: t.genTime!, tsa: t.tsa! }
}
