/**
 * A small layered ("Sugiyama-style") layout for flow graphs, left to right:
 *
 * 1. cycles are broken by reversing the back edges a depth-first search finds (in input order);
 * 2. layers by longest path from the sources; a source then moves right next to its nearest successor;
 * 3. nodes are ordered inside each layer by the barycenter of their neighbours, sweeping down and up;
 * 4. each node is placed at the mean height of its predecessors, then pushed apart to keep `nodeGap`.
 *
 * Layers occupy disjoint x ranges and nodes of a layer are kept `nodeGap` apart, so no two boxes overlap.
 * The result depends only on the node order and the edge set (edge order does not matter).
 *
 * @example
 * const pos = layeredLayout([{ id: 'a', width: 200, height: 80 }, { id: 'b', width: 200, height: 80 }],
 *                           [{ source: 'a', target: 'b' }])
 * pos.get('b') // { x: 280, y: 0 }
 */

export interface LayoutNode {
  id: string
  width: number
  height: number
}

export interface LayoutEdge {
  source: string
  target: string
}

export interface LayoutOptions {
  /** Horizontal space between layers (default 80). */
  rankGap?: number
  /** Vertical space between nodes of a layer (default 40). */
  nodeGap?: number
  /** Barycenter sweeps (default 6). */
  sweeps?: number
}

export interface Point {
  x: number
  y: number
}

/** Edges as index pairs: unknown ends and self-loops dropped, duplicates merged, sorted. */
function indexEdges(nodes: readonly LayoutNode[], edges: readonly LayoutEdge[]): Array<[number, number]> {
  const index = new Map(nodes.map((n, i) => [n.id, i]))
  const keys = new Set<string>()
  const out: Array<[number, number]> = []
  for (const e of edges) {
    const s = index.get(e.source)
    const t = index.get(e.target)
    if (s === undefined || t === undefined || s === t) continue
    const key = `${s}:${t}`
    if (keys.has(key)) continue
    keys.add(key)
    out.push([s, t])
  }
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1])
}

/** Reverses back edges so the graph becomes acyclic. */
function acyclic(n: number, edges: Array<[number, number]>): Array<[number, number]> {
  const out: number[][] = Array.from({ length: n }, () => [])
  for (const [s, t] of edges) out[s]!.push(t)
  const state = new Uint8Array(n) // 0 new, 1 on stack, 2 done
  const back = new Set<string>()
  for (let root = 0; root < n; root++) {
    if (state[root] !== 0) continue
    // iterative DFS: [node, next child index]
    const stack: Array<[number, number]> = [[root, 0]]
    state[root] = 1
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!
      const [v, i] = top
      const children = out[v]!
      if (i >= children.length) {
        state[v] = 2
        stack.pop()
        continue
      }
      top[1] = i + 1
      const w = children[i]!
      if (state[w] === 1) back.add(`${v}:${w}`)
      else if (state[w] === 0) {
        state[w] = 1
        stack.push([w, 0])
      }
    }
  }
  const result = new Map<string, [number, number]>()
  for (const [s, t] of edges) {
    const e: [number, number] = back.has(`${s}:${t}`) ? [t, s] : [s, t]
    result.set(`${e[0]}:${e[1]}`, e)
  }
  return [...result.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1])
}

/** Longest-path layers; sources are then pulled right, next to their nearest successor. */
function assignLayers(n: number, edges: Array<[number, number]>): number[] {
  const preds: number[][] = Array.from({ length: n }, () => [])
  const succs: number[][] = Array.from({ length: n }, () => [])
  const indegree = new Array<number>(n).fill(0)
  for (const [s, t] of edges) {
    preds[t]!.push(s)
    succs[s]!.push(t)
    indegree[t]!++
  }
  const layer = new Array<number>(n).fill(0)
  const queue: number[] = []
  for (let i = 0; i < n; i++) if (indegree[i] === 0) queue.push(i)
  const topo: number[] = []
  while (queue.length > 0) {
    const v = queue.shift()!
    topo.push(v)
    for (const w of succs[v]!) {
      layer[w] = Math.max(layer[w]!, layer[v]! + 1)
      if (--indegree[w]! === 0) queue.push(w)
    }
  }
  for (const v of [...topo].reverse()) {
    if (preds[v]!.length === 0 && succs[v]!.length > 0) {
      layer[v] = Math.min(...succs[v]!.map((w) => layer[w]!)) - 1
    }
  }
  return layer
}

function barycenter(neighbours: number[], position: number[]): number | undefined {
  if (neighbours.length === 0) return undefined
  let sum = 0
  for (const w of neighbours) sum += position[w]!
  return sum / neighbours.length
}

/** Orders nodes within layers to reduce crossings; returns the layers as lists of node indices. */
function orderLayers(n: number, layer: number[], edges: Array<[number, number]>, sweeps: number): number[][] {
  const depth = n === 0 ? 0 : Math.max(...layer) + 1
  const layers: number[][] = Array.from({ length: depth }, () => [])
  for (let v = 0; v < n; v++) layers[layer[v]!]!.push(v)
  const preds: number[][] = Array.from({ length: n }, () => [])
  const succs: number[][] = Array.from({ length: n }, () => [])
  for (const [s, t] of edges) {
    preds[t]!.push(s)
    succs[s]!.push(t)
  }
  // relative position of each node in its layer, in [0, 1]
  const position = new Array<number>(n).fill(0)
  const refresh = (l: number[]) =>
    l.forEach((v, i) => {
      position[v] = l.length === 1 ? 0.5 : i / (l.length - 1)
    })
  layers.forEach(refresh)
  const sortLayer = (l: number[], neighbours: number[][]) => {
    const keyed = l.map((v, i) => ({ v, i, key: barycenter(neighbours[v]!, position) ?? position[v]! }))
    keyed.sort((a, b) => a.key - b.key || a.i - b.i)
    keyed.forEach((k, i) => {
      l[i] = k.v
    })
    refresh(l)
  }
  for (let s = 0; s < sweeps; s++) {
    for (let l = 1; l < depth; l++) sortLayer(layers[l]!, preds)
    for (let l = depth - 2; l >= 0; l--) sortLayer(layers[l]!, succs)
  }
  return layers
}

export function layeredLayout(nodes: readonly LayoutNode[], edges: readonly LayoutEdge[], options: LayoutOptions = {}): Map<string, Point> {
  const rankGap = options.rankGap ?? 80
  const nodeGap = options.nodeGap ?? 40
  const sweeps = options.sweeps ?? 6
  const n = nodes.length
  const dag = acyclic(n, indexEdges(nodes, edges))
  const layer = assignLayers(n, dag)
  const layers = orderLayers(n, layer, dag, sweeps)

  const preds: number[][] = Array.from({ length: n }, () => [])
  for (const [s, t] of dag) preds[t]!.push(s)

  const x = new Array<number>(n).fill(0)
  const y = new Array<number>(n).fill(0)
  let left = 0
  for (const l of layers) {
    const width = Math.max(0, ...l.map((v) => nodes[v]!.width))
    for (const v of l) x[v] = left
    left += width + rankGap
  }
  // first layer stacked; later layers aim at the mean centre of their predecessors
  layers.forEach((l, index) => {
    const desired = l.map((v) => {
      const centres = preds[v]!.filter((p) => layer[p]! < index).map((p) => y[p]! + nodes[p]!.height / 2)
      return centres.length > 0 ? centres.reduce((a, b) => a + b, 0) / centres.length - nodes[v]!.height / 2 : undefined
    })
    let bottom = -Infinity
    let fallback = 0
    l.forEach((v, i) => {
      const want = desired[i] ?? (Number.isFinite(bottom) ? bottom + nodeGap : fallback)
      const top = Number.isFinite(bottom) ? Math.max(want, bottom + nodeGap) : want
      y[v] = top
      bottom = top + nodes[v]!.height
      fallback = bottom + nodeGap
    })
    // shift the whole layer so it sits, on average, where it wanted to be
    const wanted = l.map((v, i) => desired[i]).filter((d): d is number => d !== undefined)
    if (wanted.length > 0) {
      const placed = l.filter((_, i) => desired[i] !== undefined).map((v) => y[v]!)
      const shift = (wanted.reduce((a, b) => a + b, 0) - placed.reduce((a, b) => a + b, 0)) / wanted.length
      for (const v of l) y[v] = y[v]! + shift
    }
  })
  const minY = n === 0 ? 0 : Math.min(...y)
  const result = new Map<string, Point>()
  nodes.forEach((node, v) => {
    result.set(node.id, { x: Math.round(x[v]!), y: Math.round(y[v]! - minY) })
  })
  return result
}

/** Whether two boxes overlap (touching edges do not count). */
export function boxesOverlap(a: Point & { width: number; height: number }, b: Point & { width: number; height: number }) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
}
