// The package passes audit/vectors/*.json (the known-answer vectors every implementation must pass), and the
// vectors are what audit/vectors/generate.mjs writes.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  EMPTY_CHAIN,
  appendEntry,
  boundEntry,
  canonicalize,
  checkpointBody,
  consistencyProof,
  inclusionProof,
  keyId,
  leafHash,
  merkleRoot,
  parseVerifierKey,
  privateKeyFromSeed,
  rawPublicKey,
  signCheckpoint,
  verifyChain,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from './index.js'

const root = join(import.meta.dirname, '..', '..', '..')
const load = (name: string) => JSON.parse(readFileSync(join(root, 'audit', 'vectors', name), 'utf8'))
const h = (x: string) => Buffer.from(x, 'hex')

describe('audit/vectors', () => {
  it('are up to date with generate.mjs', () => {
    execFileSync(process.execPath, [join(root, 'audit', 'vectors', 'generate.mjs'), '--check'], { stdio: 'pipe' })
  })

  it('canonical.json', () => {
    const v = load('canonical.json')
    expect(v.cases.length).toBeGreaterThan(10)
    for (const c of v.cases) expect(canonicalize(JSON.parse(c.input)), c.name).toBe(c.output)
    for (const c of v.invalid) expect(() => canonicalize(JSON.parse(c.input)), c.name).toThrow()
  })

  it('tree.json', () => {
    const v = load('tree.json')
    const leaves = v.leaves.map((l: any) => {
      expect(leafHash(h(l.input)).toString('hex')).toBe(l.leaf_hash)
      return h(l.leaf_hash)
    })
    v.roots.forEach((r: string, n: number) => expect(merkleRoot(leaves.slice(0, n)).toString('hex'), `root ${n}`).toBe(r))
    for (const p of v.inclusion) {
      const path = p.path.map(h)
      expect(inclusionProof(leaves, p.leaf_index, p.tree_size).map((x) => x.toString('hex'))).toEqual(p.path)
      expect(verifyInclusion(leaves[p.leaf_index], p.leaf_index, p.tree_size, path, h(v.roots[p.tree_size]))).toBe(true)
      // and it fails for the wrong leaf, index, size or root
      expect(verifyInclusion(leaves[(p.leaf_index + 1) % leaves.length], p.leaf_index, p.tree_size, path, h(v.roots[p.tree_size]))).toBe(false)
      if (p.tree_size < leaves.length)
        expect(verifyInclusion(leaves[p.leaf_index], p.leaf_index, p.tree_size + 1, path, h(v.roots[p.tree_size + 1]))).toBe(false)
      if (p.tree_size > 1) expect(verifyInclusion(leaves[p.leaf_index], p.leaf_index ^ 1, p.tree_size, path, h(v.roots[p.tree_size]))).toBe(false)
    }
    for (const p of v.consistency) {
      const path = p.path.map(h)
      expect(consistencyProof(leaves, p.first, p.second).map((x) => x.toString('hex'))).toEqual(p.path)
      expect(verifyConsistency(p.first, p.second, h(v.roots[p.first]), h(v.roots[p.second]), path), `${p.first}-${p.second}`).toBe(true)
      if (p.first > 0 && p.first < p.second) {
        expect(verifyConsistency(p.first, p.second, h(v.roots[p.first - 1]), h(v.roots[p.second]), path)).toBe(false)
        expect(verifyConsistency(p.first, p.second, h(v.roots[p.first]), h(v.roots[p.second - 1]), path)).toBe(false)
        expect(verifyConsistency(p.first, p.second, h(v.roots[p.first]), h(v.roots[p.second]), path.slice(1))).toBe(false)
      }
    }
  })

  it('chain.json', () => {
    const v = load('chain.json')
    let prev = v.zero_hash
    const hashes: Buffer[] = []
    for (const x of v.entries) {
      expect(x.entry.prev).toBe(prev)
      expect(canonicalize(x.entry)).toBe(x.leaf)
      expect(leafHash(x.leaf).toString('hex')).toBe(x.leaf_hash)
      hashes.push(h(x.leaf_hash))
      expect(merkleRoot(hashes).toString('hex')).toBe(x.root)
      prev = x.leaf_hash
    }
  })

  it('chain.json bounds, and appendEntry rebuilds the chain', () => {
    const v = load('chain.json')
    for (const c of v.bounds) expect(boundEntry(c.input), c.name).toEqual(c.output)
    expect(v.bounds[0].output.details.truncated).toBeUndefined()
    for (const c of v.bounds.slice(1)) expect(c.output.details.truncated, c.name).toBe(true)
    let state = EMPTY_CHAIN
    for (const x of v.entries) {
      const { v: _v, seq: _s, prev: _p, ...fields } = x.entry
      const r = appendEntry(state, fields)
      expect(r.leaf).toBe(x.leaf)
      expect(r.root).toBe(x.root)
      state = r.state
    }
    expect(() => appendEntry(state, { ...v.entries[0].entry, kind: 'Not A Kind' })).toThrow(/kind/)
  })

  it('checkpoint.json', () => {
    const v = load('checkpoint.json')
    const priv = privateKeyFromSeed(h(v.key.seed))
    expect(rawPublicKey(priv).toString('hex')).toBe(v.key.public_key)
    expect(keyId(v.key.name, h(v.key.public_key)).toString('hex')).toBe(v.key.key_id)
    const keys: Record<string, ReturnType<typeof parseVerifierKey>> = {
      [v.key.name]: parseVerifierKey(v.key.verifier_key)!,
      [v.key2.name]: parseVerifierKey(v.key2.verifier_key)!,
    }
    for (const c of v.checkpoints) {
      const body = checkpointBody(c.origin, c.size, h(c.root))
      expect(body).toBe(c.body)
      expect(signCheckpoint(body, v.key.name, priv)).toBe(c.note)
      const got = verifyCheckpoint(c.note, [keys[v.key.name]!])
      expect(got && { origin: got.origin, size: got.size, root: got.root.toString('hex') }).toEqual({ origin: c.origin, size: c.size, root: c.root })
    }
    for (const c of v.verify) {
      const got = verifyCheckpoint(
        c.note,
        c.keys.map((k: string) => keys[k]!),
      )
      expect(got !== null, c.name).toBe(c.valid)
      if (c.valid) expect(got!.size).toBe(c.size)
    }
  })

  it('tamper.json', async () => {
    const v = load('tamper.json')
    const keys = v.keys.map((k: string) => parseVerifierKey(k)!)
    expect(v.cases.length).toBeGreaterThan(20)
    for (const c of v.cases) {
      const r = await verifyChain(v.chain, c.entries, c.checkpoints, keys, { start: c.start, complete: c.complete, proofs: c.proofs, pruned: c.pruned })
      if (c.expect.ok) expect(r, c.name).toMatchObject({ ok: true, size: c.expect.size })
      else expect({ ok: r.ok, finding: (r as any).finding, seq: (r as any).seq }, `${c.name}: ${JSON.stringify(r)}`).toEqual(c.expect)
    }
  })

  it('tamper.json, with leaves parsed and hashed in worker threads (the built package)', async () => {
    const dist = await import(join(import.meta.dirname, '..', 'dist', 'index.js'))
    const v = load('tamper.json')
    const keys = v.keys.map((k: string) => dist.parseVerifierKey(k))
    for (const c of v.cases) {
      const r = await dist.verifyChain(v.chain, c.entries, c.checkpoints, keys, {
        start: c.start,
        complete: c.complete,
        proofs: c.proofs,
        pruned: c.pruned,
        workers: 2,
      })
      if (c.expect.ok) expect(r, c.name).toMatchObject({ ok: true, size: c.expect.size })
      else expect({ ok: r.ok, finding: r.finding, seq: r.seq }, c.name).toEqual(c.expect)
    }
  })
})
