// The tree against a direct transcription of RFC 9162's recursive definitions, at every size to 70 and at random
// larger ones; the frontier; proofs from a store of perfect-subtree hashes; entries; the streaming verifier's
// inputs.
import { describe, expect, it } from 'vitest'
import {
  type AuditEntry,
  Frontier,
  MerkleTree,
  ZERO_HASH,
  consistencyProofFrom,
  emptyRoot,
  entryLeaf,
  entryProblem,
  inclusionProofFrom,
  inclusionProofNodes,
  consistencyProofNodes,
  rootNodes,
  subtreeRoot,
  leafHash,
  nodeHash,
  verifyChain,
  verifyConsistency,
  verifyInclusion,
} from './index.js'

const split = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1)
const mth = (d: Buffer[]): Buffer =>
  d.length === 0 ? emptyRoot() : d.length === 1 ? d[0]! : nodeHash(mth(d.slice(0, split(d.length))), mth(d.slice(split(d.length))))
const path = (m: number, d: Buffer[]): Buffer[] => {
  if (d.length <= 1) return []
  const k = split(d.length)
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))]
}
const subproof = (m: number, d: Buffer[], b: boolean): Buffer[] => {
  if (m === d.length) return b ? [] : [mth(d)]
  const k = split(d.length)
  return m <= k ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))] : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))]
}
const leaves = Array.from({ length: 300 }, (_, i) => leafHash(`leaf ${i}`))

describe('the tree', () => {
  it('matches the RFC definitions at every size to 70', () => {
    const tree = new MerkleTree(leaves.slice(0, 70))
    for (let n = 0; n <= 70; n++) {
      const d = leaves.slice(0, n)
      expect(tree.root(n).equals(mth(d)), `root ${n}`).toBe(true)
      for (let m = 0; m < n; m++) {
        const p = tree.inclusionProof(m, n)
        expect(p.map((x) => x.toString('hex'))).toEqual(path(m, d).map((x) => x.toString('hex')))
        expect(verifyInclusion(leaves[m]!, m, n, p, tree.root(n))).toBe(true)
      }
      for (let m = 1; m < n; m++) {
        const p = tree.consistencyProof(m, n)
        expect(p.map((x) => x.toString('hex'))).toEqual(subproof(m, d, true).map((x) => x.toString('hex')))
        expect(verifyConsistency(m, n, tree.root(m), tree.root(n), p)).toBe(true)
        expect(verifyConsistency(m, n, tree.root(m), tree.root(n - 1), p)).toBe(false)
      }
    }
  })

  it('gives the same proofs from any store of perfect-subtree hashes', () => {
    const tree = new MerkleTree(leaves)
    const store = new Map<string, Buffer>()
    for (let level = 0; 2 ** level <= leaves.length; level++)
      for (let i = 0; (i + 1) * 2 ** level <= leaves.length; i++) store.set(`${level}/${i}`, tree.perfect(level, i))
    const perfect = (level: number, index: number) => store.get(`${level}/${index}`)!
    for (const [m, n] of [
      [0, 300],
      [299, 300],
      [137, 255],
      [128, 256],
      [5, 7],
    ] as const) {
      expect(inclusionProofFrom(perfect, m, n)).toEqual(tree.inclusionProof(m, n))
      expect(consistencyProofFrom(perfect, m + 1, n)).toEqual(tree.consistencyProof(m + 1, n))
    }
  })

  it('tells a store which perfect subtrees to fetch, and the frontier hands them over as they complete', () => {
    const store = new Map<string, Buffer>()
    const f = new Frontier()
    for (const h of leaves) for (const node of f.append(h)) store.set(`${node.level}/${node.index}`, node.hash)
    const tree = new MerkleTree(leaves)
    expect(store.size).toBe(2 * leaves.length - leaves.length.toString(2).replaceAll('0', '').length)
    for (const [k, v] of store) {
      const [level, index] = k.split('/').map(Number) as [number, number]
      expect(v.equals(tree.perfect(level, index))).toBe(true)
    }
    const fetchOnly = (nodes: [number, number][]) => {
      const got = new Map(nodes.map(([l, i]) => [`${l}/${i}`, store.get(`${l}/${i}`)!]))
      return (level: number, index: number) => {
        const h = got.get(`${level}/${index}`)
        if (!h) throw new Error(`not fetched: ${level}/${index}`)
        return h
      }
    }
    for (const [m, n] of [
      [0, 300],
      [299, 300],
      [137, 255],
      [64, 129],
    ] as const) {
      const nodes = inclusionProofNodes(m, n)
      expect(nodes.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)) ** 2)
      expect(inclusionProofFrom(fetchOnly(nodes), m, n)).toEqual(tree.inclusionProof(m, n))
      expect(consistencyProofFrom(fetchOnly(consistencyProofNodes(m + 1, n)), m + 1, n)).toEqual(tree.consistencyProof(m + 1, n))
      expect(subtreeRoot(fetchOnly(rootNodes(n)), 0, n)).toEqual(tree.root(n))
    }
  })

  it('keeps a frontier of one hash per set bit, restorable from its hashes', () => {
    const f = new Frontier()
    for (let i = 0; i < 300; i++) {
      f.append(leaves[i]!)
      const n = i + 1
      expect(f.hashes().length).toBe(n.toString(2).replaceAll('0', '').length)
      expect(f.root().equals(mth(leaves.slice(0, n)))).toBe(true)
      const g = Frontier.from(n, f.hashes())
      g.append(leaves[0]!)
      const h = Frontier.from(n, f.hashes())
      expect(h.root().equals(f.root())).toBe(true)
    }
    expect(() => Frontier.from(5, [leaves[0]!])).toThrow()
  })

  it('refuses bad arguments to proof generation with RangeError', () => {
    const tree = new MerkleTree(leaves.slice(0, 10))
    expect(() => tree.inclusionProof(10, 10)).toThrow(RangeError)
    expect(() => tree.inclusionProof(0, 11)).toThrow(RangeError)
    expect(() => tree.consistencyProof(5, 4)).toThrow(RangeError)
    expect(() => tree.root(-1)).toThrow(RangeError)
  })
})

const entry = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  v: 1,
  chain: 'runtime:t_1',
  seq: 0,
  time: '2026-12-07T17:10:01.123Z',
  kind: 'state.write',
  actor: { type: 'worker', id: 'w_1', name: null, auth: 'worker_token' },
  sid: null,
  scope: { tenant: 't_1', team: null, project: 'p_1' },
  target: { type: 'state', id: 'orders/42' },
  outcome: { status: 'ok', code: null },
  request: { id: null, trace: null, addr: null, ua: null },
  details: { group: 'orders', key: '42', bytes: 120 },
  prev: ZERO_HASH,
  ...over,
})

describe('entries', () => {
  it('names what is malformed', () => {
    expect(entryProblem(entry())).toBeNull()
    expect(entryProblem({ ...entry(), extra: 1 })).toMatch(/members/)
    expect(entryProblem(entry({ seq: -1 }))).toMatch(/seq/)
    expect(entryProblem(entry({ time: '2026-12-07T17:10:01Z' }))).toMatch(/time/)
    expect(entryProblem(entry({ chain: 'bad chain' }))).toMatch(/chain/)
    expect(entryProblem(entry({ prev: 'ABC' }))).toMatch(/prev/)
    expect(entryProblem(entry({ actor: { type: 'root' as any, id: null, name: null, auth: null } }))).toMatch(/actor.type/)
    expect(entryProblem(entry({ details: { blob: 'x'.repeat(17 * 1024) } }))).toMatch(/16 KiB/)
    expect(entryProblem(entry({ sid: 'x'.repeat(5000) }))).toMatch(/sid/)
  })

  it('verifies the same from an array, a generator and an async generator', async () => {
    const list = []
    let prev = ZERO_HASH
    for (let i = 0; i < 500; i++) {
      const leaf = entryLeaf(entry({ seq: i, prev }))
      prev = leafHash(leaf).toString('hex')
      list.push({ leaf })
    }
    const want = await verifyChain('runtime:t_1', list, [], [])
    expect(want).toMatchObject({ ok: true, size: 500 })
    expect(
      await verifyChain(
        'runtime:t_1',
        (function* () {
          yield* list
        })(),
        [],
        [],
      ),
    ).toEqual(want)
    expect(
      await verifyChain(
        'runtime:t_1',
        (async function* () {
          yield* list
        })(),
        [],
        [],
      ),
    ).toEqual(want)
    // A source that fails half-way is reported, not thrown.
    const failing = (async function* () {
      yield list[0]!
      throw new Error('connection lost')
    })()
    expect(await verifyChain('runtime:t_1', failing, [], [])).toMatchObject({ ok: false, finding: 'edited', detail: /connection lost/ })
    // Records that are not entries.
    expect(await verifyChain('runtime:t_1', [null as any], [], [])).toMatchObject({ ok: false, seq: 0, finding: 'edited' })
    expect(await verifyChain('runtime:t_1', [{ leaf: '[]' }], [], [])).toMatchObject({ ok: false, seq: 0, finding: 'edited' })
  })
})
