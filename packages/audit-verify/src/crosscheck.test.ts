// Cross-checks against independent implementations and published test data:
// - RFC 8785: the npm `canonicalize` package (by the RFC's author), on the vectors and on random values;
// - RFC 6962/9162: the published test data of transparency-dev/merkle (testonly/constants.go and
//   testonly/reference_test.go: leaf inputs, node hashes, roots, inclusion and consistency proofs), transcribed;
// - C2SP signed notes: the golang.org/x/mod/sumdb/note documentation example (PeterNeumann), which the signer must
//   reproduce byte for byte and the verifier must accept.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import jcs from 'canonicalize'
import { describe, expect, it } from 'vitest'
import {
  canonicalize,
  consistencyProof,
  emptyRoot,
  inclusionProof,
  leafHash,
  merkleRoot,
  nodeHash,
  parseVerifierKey,
  privateKeyFromSeed,
  rawPublicKey,
  signCheckpoint,
  checkNote,
  verifyConsistency,
  verifyInclusion,
} from './index.js'

const root = join(import.meta.dirname, '..', '..', '..')
const h = (x: string) => Buffer.from(x, 'hex')
const hexes = (a: Buffer[]) => a.map((x) => x.toString('hex'))

describe('RFC 8785 against the npm canonicalize package', () => {
  it('agrees on every vector', () => {
    const v = JSON.parse(readFileSync(join(root, 'audit', 'vectors', 'canonical.json'), 'utf8'))
    for (const c of v.cases) expect(canonicalize(JSON.parse(c.input)), c.name).toBe(jcs(JSON.parse(c.input)))
  })

  it('agrees on 5,000 random values', () => {
    let seed = 12345
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const chars = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\u0001', '\u001f', '\u007f', 'é', '€', '\u2028', '\ufb33', '\ud83d\ude00', '\uffff', '/']
    const str = () => Array.from({ length: Math.floor(rnd() * 6) }, () => chars[Math.floor(rnd() * chars.length)]).join('')
    const num = () => {
      const k = Math.floor(rnd() * 6)
      if (k === 0) return Math.floor(rnd() * 2 ** 53) * (rnd() < 0.5 ? -1 : 1)
      if (k === 1) return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20)
      if (k === 2) return rnd() * 10 ** Math.floor(rnd() * 600 - 300)
      if (k === 3) return Math.floor(rnd() * 1000)
      if (k === 4) return 1 / (1 + Math.floor(rnd() * 1000))
      return -0
    }
    const value = (d: number): unknown => {
      const k = Math.floor(rnd() * (d > 3 ? 4 : 6))
      if (k === 0) return str()
      if (k === 1) return num()
      if (k === 2) return [null, true, false][Math.floor(rnd() * 3)]
      if (k === 3) return str().length > 2 ? null : num()
      if (k === 4) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(d + 1))
      const o: Record<string, unknown> = {}
      for (let i = 0; i < rnd() * 5; i++) o[str()] = value(d + 1)
      return o
    }
    for (let i = 0; i < 5000; i++) {
      const v = value(0)
      expect(canonicalize(v)).toBe(jcs(v))
    }
  })
})

// transparency-dev/merkle testonly/constants.go (Apache-2.0), RFC 6962 hashing.
const TD_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f']
const TD_NODES = [
  [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
    '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
    'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
    '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
  ],
  [
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
  ],
  ['d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'],
  ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
]
const TD_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]
// testonly/reference_test.go TestRefInclusionProof and TestRefConsistencyProof.
const TD_INCLUSION: [number, number, string[]][] = [
  [0, 1, []],
  [0, 2, [TD_NODES[0]![1]!]],
  [1, 2, [TD_NODES[0]![0]!]],
  [2, 3, [TD_NODES[1]![0]!]],
  [1, 5, [TD_NODES[0]![0]!, TD_NODES[1]![1]!, TD_NODES[0]![4]!]],
  [0, 8, [TD_NODES[0]![1]!, TD_NODES[1]![1]!, TD_NODES[2]![1]!]],
  [5, 8, [TD_NODES[0]![4]!, TD_NODES[1]![3]!, TD_NODES[2]![0]!]],
]
const TD_CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [1, 8, [TD_NODES[0]![1]!, TD_NODES[1]![1]!, TD_NODES[2]![1]!]],
  [2, 5, [TD_NODES[1]![1]!, TD_NODES[0]![4]!]],
  [6, 8, [TD_NODES[1]![2]!, TD_NODES[1]![3]!, TD_NODES[2]![0]!]],
]

describe('RFC 6962/9162 against transparency-dev/merkle test data', () => {
  const leaves = TD_LEAVES.map((x) => leafHash(h(x)))
  it('leaf hashes, node hashes and roots', () => {
    expect(hexes(leaves)).toEqual(TD_NODES[0])
    expect(emptyRoot().toString('hex')).toBe(TD_ROOTS[0])
    TD_ROOTS.forEach((r, n) => expect(merkleRoot(leaves.slice(0, n)).toString('hex'), `size ${n}`).toBe(r))
    expect(nodeHash(leaves[0]!, leaves[1]!).toString('hex')).toBe(TD_NODES[1]![0])
  })
  it('inclusion proofs', () => {
    for (const [m, n, path] of TD_INCLUSION) {
      expect(hexes(inclusionProof(leaves, m, n)), `${m}:${n}`).toEqual(path)
      expect(verifyInclusion(leaves[m]!, m, n, path.map(h), h(TD_ROOTS[n]!))).toBe(true)
    }
  })
  it('consistency proofs', () => {
    for (const [m, n, path] of TD_CONSISTENCY) {
      expect(hexes(consistencyProof(leaves, m, n)), `${m}:${n}`).toEqual(path)
      expect(verifyConsistency(m, n, h(TD_ROOTS[m]!), h(TD_ROOTS[n]!), path.map(h))).toBe(true)
    }
  })
  it('refuses malformed proofs without throwing', () => {
    const p = TD_CONSISTENCY[3]![2].map(h)
    expect(verifyConsistency(6, 8, h(TD_ROOTS[6]!), h(TD_ROOTS[8]!), [...p, p[0]!])).toBe(false)
    expect(verifyConsistency(6, 8, h(TD_ROOTS[6]!), h(TD_ROOTS[8]!), [])).toBe(false)
    expect(verifyConsistency(8, 6, h(TD_ROOTS[8]!), h(TD_ROOTS[6]!), p)).toBe(false)
    expect(verifyConsistency(0, 8, h(TD_ROOTS[1]!), h(TD_ROOTS[8]!), [])).toBe(false)
    expect(verifyConsistency(-1, 8, h(TD_ROOTS[0]!), h(TD_ROOTS[8]!), [])).toBe(false)
    expect(verifyConsistency(6, 8, Buffer.alloc(31), h(TD_ROOTS[8]!), p)).toBe(false)
    expect(verifyInclusion(leaves[5]!, 5, 8, [...p, Buffer.alloc(5)], h(TD_ROOTS[8]!))).toBe(false)
    expect(verifyInclusion(leaves[5]!, 8, 8, [], h(TD_ROOTS[8]!))).toBe(false)
    expect(verifyInclusion(leaves[5]!, 1.5, 8, [], h(TD_ROOTS[8]!))).toBe(false)
    expect(verifyInclusion(leaves[0]!, 0, 1, [leaves[1]!], leaves[0]!)).toBe(false)
  })
})

describe('C2SP signed notes against golang.org/x/mod/sumdb/note', () => {
  const v = JSON.parse(readFileSync(join(root, 'audit', 'vectors', 'checkpoint.json'), 'utf8')).external
  it('reproduces the published note from the published signer key, and verifies it', () => {
    const skey = (v.signer_key as string).split('+')
    const name = skey[2]!
    const data = Buffer.from(skey.slice(4).join('+'), 'base64')
    expect(data[0]).toBe(1)
    const priv = privateKeyFromSeed(data.subarray(1))
    const vk = parseVerifierKey(v.verifier_key)!
    expect(vk).not.toBeNull()
    expect(rawPublicKey(priv).equals(vk.publicKey)).toBe(true)
    expect(signCheckpoint(v.text, name, priv)).toBe(v.note)
    // The note's body is not a checkpoint, but its signature verifies.
    const check = checkNote(v.note, [vk])
    expect(check.signedBy).toEqual([])
    expect(check.problem).toBe('the body is not origin, size, base64 root')
    const tampered = checkNote(v.note.replace('cryptography', 'cryptographY'), [vk])
    expect(tampered.problem).toMatch(/does not verify/)
  })
})
