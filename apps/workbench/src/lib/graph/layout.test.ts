import { describe, expect, it } from 'vitest'
import { boxesOverlap, type LayoutEdge, type LayoutNode, layeredLayout } from './layout'

const box = (id: string, width = 240, height = 90): LayoutNode => ({ id, width, height })

/** A small deterministic pseudo-random generator (mulberry32). */
function rng(seed: number) {
  let a = seed
  return () => {
    a |= 0
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function randomGraph(seed: number, n: number, m: number): { nodes: LayoutNode[]; edges: LayoutEdge[] } {
  const r = rng(seed)
  const nodes = Array.from({ length: n }, (_, i) => box(`n${i}`, 160 + Math.floor(r() * 120), 60 + Math.floor(r() * 60)))
  const edges = Array.from({ length: m }, () => ({
    source: `n${Math.floor(r() * n)}`,
    target: `n${Math.floor(r() * n)}`,
  }))
  return { nodes, edges }
}

function assertNoOverlap(nodes: LayoutNode[], pos: Map<string, { x: number; y: number }>) {
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const a = { ...pos.get(nodes[i]!.id)!, width: nodes[i]!.width, height: nodes[i]!.height }
      const b = { ...pos.get(nodes[j]!.id)!, width: nodes[j]!.width, height: nodes[j]!.height }
      expect(boxesOverlap(a, b), `${nodes[i]!.id} overlaps ${nodes[j]!.id}`).toBe(false)
    }
  }
}

describe('layeredLayout', () => {
  it('places a chain left to right, one layer per step', () => {
    const nodes = [box('api'), box('process'), box('log')]
    const pos = layeredLayout(nodes, [
      { source: 'api', target: 'process' },
      { source: 'process', target: 'log' },
    ])
    expect(pos.get('api')!.x).toBeLessThan(pos.get('process')!.x)
    expect(pos.get('process')!.x).toBeLessThan(pos.get('log')!.x)
    // a straight chain stays on one line
    expect(new Set([...pos.values()].map((p) => p.y)).size).toBe(1)
  })

  it('positions every node, including isolated ones, without overlaps', () => {
    const nodes = [box('a'), box('b'), box('c'), box('lonely'), box('cron')]
    const pos = layeredLayout(nodes, [
      { source: 'a', target: 'b' },
      { source: 'a', target: 'c' },
    ])
    expect([...pos.keys()].sort()).toEqual(['a', 'b', 'c', 'cron', 'lonely'])
    assertNoOverlap(nodes, pos)
  })

  it('never overlaps boxes on random graphs, cycles and self-loops included', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const { nodes, edges } = randomGraph(seed, 3 + (seed % 14), seed % 25)
      const pos = layeredLayout(nodes, edges)
      expect(pos.size).toBe(nodes.length)
      assertNoOverlap(nodes, pos)
      for (const p of pos.values()) {
        expect(Number.isFinite(p.x) && Number.isFinite(p.y)).toBe(true)
        expect(p.x).toBeGreaterThanOrEqual(0)
        expect(p.y).toBeGreaterThanOrEqual(0)
      }
    }
  })

  it('puts every edge target of an acyclic graph to the right of its source', () => {
    const nodes = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => box(id))
    const edges = [
      { source: 'a', target: 'd' },
      { source: 'b', target: 'd' },
      { source: 'd', target: 'e' },
      { source: 'c', target: 'f' },
      { source: 'a', target: 'f' },
      { source: 'e', target: 'f' },
    ]
    const pos = layeredLayout(nodes, edges)
    for (const e of edges) expect(pos.get(e.source)!.x).toBeLessThan(pos.get(e.target)!.x)
  })

  it('is deterministic and ignores edge order', () => {
    const { nodes, edges } = randomGraph(7, 12, 18)
    const first = layeredLayout(nodes, edges)
    const again = layeredLayout(nodes, edges)
    const shuffled = layeredLayout(nodes, [...edges].reverse())
    expect([...again]).toEqual([...first])
    expect([...shuffled]).toEqual([...first])
  })

  it('handles an empty graph', () => {
    expect(layeredLayout([], []).size).toBe(0)
  })
})
