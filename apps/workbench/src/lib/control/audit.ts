/**
 * The audit chain in the browser (docs/audit.md): the control plane's `/v1/audit` answers, and an independent check
 * of an entry's proof with WebCrypto — the leaf hashes to the stated leaf hash, the RFC 9162 inclusion proof leads to
 * the root, and that root is the one a checkpoint signs with an audit key (Ed25519, C2SP signed note). The page
 * shows what was checked here, so an auditor does not have to trust the server's word for it.
 *
 * @example
 * const result = await checkEntryProof(detail, keys)
 * if (result.ok) console.log(`included in the tree of ${result.treeSize}, signed by ${result.signedBy}`)
 */

export interface AuditEntryBody {
  v: number
  chain: string
  seq: number
  time: string
  kind: string
  actor: { type: string; id: string | null; name: string | null; auth: string | null }
  sid: string | null
  scope: { tenant: string | null; team: string | null; project: string | null }
  target: { type: string; id: string | null } | null
  outcome: { status: 'ok' | 'denied' | 'error'; code: string | null }
  request: { id: string | null; trace: string | null; addr: string | null; ua: string | null }
  details: Record<string, unknown>
  prev: string
}

export interface AuditListItem {
  chain: string
  seq: number
  leafHash: string
  entry: AuditEntryBody
}

export interface AuditCheckpoint {
  chain: string
  size: number
  root: string
  note: string
  keyName: string
  createdAt: string
}

export interface AuditEntryDetail extends AuditListItem {
  /** the leaf text exactly as hashed */
  leaf: string
  proof: { leaf_index: number; tree_size: number; path: string[] }
  root: string
  checkpoint?: AuditCheckpoint
}

export interface AuditKey {
  name: string
  keyId: string
  /** the signed-note verifier key: `name+keyid+base64(0x01 || public key)` */
  verifierKey: string
  createdAt?: string
  retiredAt?: string | null
}

export interface AuditStatus {
  anchoring: boolean
  /** The control plane says where it wrote the anchor and which authority timestamped it; the runtime names the object. */
  lastAnchor: { createdAt: string; digest: string; checkpoints: number; location?: string; tsa?: string; genTime?: string; object?: string } | null
  lastVerification: {
    createdAt: string
    ok: boolean
    chains: number
    entries: number
    chain: string | null
    seq: number | null
    finding: string | null
    detail: string | null
    durationMs: number
  } | null
}

export interface AuditQuery {
  from?: string
  to?: string
  actor?: string
  kind?: string
  tenant?: string
  project?: string
  outcome?: string
  sid?: string
  chain?: string
  cursor?: string
  limit?: number
}

const enc = new TextEncoder()

function hex(b: ArrayBuffer | Uint8Array): string {
  return Array.from(b instanceof Uint8Array ? b : new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('')
}

function fromHex(s: string): Uint8Array | null {
  if (!/^(?:[0-9a-f]{2})*$/.test(s)) return null
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16)
  return out
}

function fromBase64(s: string): Uint8Array | null {
  try {
    const bin = atob(s)
    return Uint8Array.from(bin, (c) => c.charCodeAt(0))
  } catch {
    return null
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource))
}

/** SHA-256(0x00 || leaf) */
export async function leafHash(leaf: string | Uint8Array): Promise<string> {
  return hex(await sha256(concat(new Uint8Array([0]), typeof leaf === 'string' ? enc.encode(leaf) : leaf)))
}

/** SHA-256(0x01 || l || r) */
async function nodeHash(l: Uint8Array, r: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(new Uint8Array([1]), l, r))
}

/** RFC 9162 §2.1.3.2: does `path` prove leaf `index` (hash `leaf`) in the tree of `size` with root `root`? */
export async function verifyInclusion(leaf: string, index: number, size: number, path: string[], root: string): Promise<boolean> {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size || path.length > 64) return false
  const l = fromHex(leaf)
  const r = fromHex(root)
  if (l?.length !== 32 || !r || r.length !== 32) return false
  let fn = index
  let sn = size - 1
  let h = l
  for (const p of path) {
    const node = fromHex(p)
    if (node?.length !== 32 || sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      h = await nodeHash(node, h)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      h = await nodeHash(h, node)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && hex(h) === hex(r)
}

export interface ParsedKey {
  name: string
  keyId: string
  publicKey: Uint8Array
}

/** `name+keyid+base64(0x01 || key)` → its parts, or null when malformed or the key id does not match. */
export async function parseVerifierKey(text: string): Promise<ParsedKey | null> {
  const m = /^([^\s+\u2014]{1,200})\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text)
  if (!m) return null
  const raw = fromBase64(m[3]!)
  if (raw?.length !== 33 || raw[0] !== 1) return null
  const publicKey = raw.slice(1)
  const id = hex((await sha256(concat(enc.encode(`${m[1]}\n`), raw))).slice(0, 4))
  return id === m[2] ? { name: m[1]!, keyId: id, publicKey } : null
}

export interface SignedCheckpoint {
  origin: string
  size: number
  /** lowercase hex */
  root: string
  /** names of the given keys whose signatures verified */
  signedBy: string[]
}

/**
 * Verifies a C2SP signed note carrying a checkpoint with the given keys. Returns the checkpoint and the keys that
 * signed it, or a reason. `unsupported` when this browser's WebCrypto has no Ed25519.
 */
export async function verifyCheckpointNote(note: string, keys: ParsedKey[]): Promise<SignedCheckpoint | { problem: string; unsupported?: boolean }> {
  const split = note.lastIndexOf('\n\n')
  if (split < 0 || !note.endsWith('\n')) return { problem: 'not a signed note' }
  const body = note.slice(0, split + 1)
  const lines = body.split('\n')
  if (lines.length !== 4 || lines[3] !== '' || !/^[1-9]\d{0,15}$/.test(lines[1]!)) return { problem: 'not a checkpoint body' }
  const root = fromBase64(lines[2]!)
  if (root?.length !== 32) return { problem: 'the checkpoint root is not 32 bytes of base64' }
  const signedBy: string[] = []
  for (const line of note.slice(split + 2, -1).split('\n')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line)
    if (!m) return { problem: 'a signature line is malformed' }
    const sig = fromBase64(m[2]!)
    const key = keys.find((k) => k.name === m[1])
    if (sig?.length !== 68 || !key || hex(sig.slice(0, 4)) !== key.keyId) continue
    try {
      const k = await crypto.subtle.importKey('raw', key.publicKey as BufferSource, { name: 'Ed25519' }, false, ['verify'])
      if (await crypto.subtle.verify({ name: 'Ed25519' }, k, sig.slice(4) as BufferSource, enc.encode(body) as BufferSource)) signedBy.push(key.name)
    } catch {
      return { problem: 'this browser cannot check Ed25519 signatures', unsupported: true }
    }
  }
  if (signedBy.length === 0) return { problem: 'no signature by a known audit key verifies' }
  return { origin: lines[0]!, size: Number(lines[1]), root: hex(root), signedBy }
}

export type ProofCheck = { ok: true; treeSize: number; root: string; signedBy: string[] | null; signatureNote?: string } | { ok: false; problem: string }

/**
 * Checks an entry as the server gave it: the leaf is the entry and hashes to its leaf hash, the inclusion proof
 * leads to the root, and (when a checkpoint came with it) the checkpoint is signed by an audit key and signs that
 * root for this chain at that size.
 */
export async function checkEntryProof(detail: AuditEntryDetail, keys: AuditKey[]): Promise<ProofCheck> {
  let parsed: unknown
  try {
    parsed = JSON.parse(detail.leaf)
  } catch {
    return { ok: false, problem: 'the leaf is not JSON' }
  }
  const p = parsed as Partial<AuditEntryBody>
  if (p.chain !== detail.chain || p.seq !== detail.seq) return { ok: false, problem: 'the leaf names another chain or position' }
  const h = await leafHash(detail.leaf)
  if (h !== detail.leafHash) return { ok: false, problem: 'the leaf does not hash to its leaf hash' }
  const { leaf_index, tree_size, path } = detail.proof
  if (leaf_index !== detail.seq) return { ok: false, problem: 'the proof is for another leaf' }
  if (!(await verifyInclusion(h, leaf_index, tree_size, path, detail.root)))
    return { ok: false, problem: `the inclusion proof does not lead to the root of the tree of ${tree_size}` }
  if (!detail.checkpoint) return { ok: true, treeSize: tree_size, root: detail.root, signedBy: null }
  const parsedKeys = (await Promise.all(keys.map((k) => parseVerifierKey(k.verifierKey)))).filter((k): k is ParsedKey => k !== null)
  const cp = await verifyCheckpointNote(detail.checkpoint.note, parsedKeys)
  if ('problem' in cp) {
    if (cp.unsupported) return { ok: true, treeSize: tree_size, root: detail.root, signedBy: null, signatureNote: cp.problem }
    return { ok: false, problem: `the checkpoint: ${cp.problem}` }
  }
  if (cp.origin !== `cfp-audit/${detail.chain}`) return { ok: false, problem: `the checkpoint is for ${cp.origin}` }
  if (cp.size !== tree_size || cp.root !== detail.root) return { ok: false, problem: 'the checkpoint signs another tree than the proof' }
  return { ok: true, treeSize: tree_size, root: detail.root, signedBy: cp.signedBy }
}
