/**
 * From a flow graph and the saved layout to what React Flow draws: node boxes at their positions (saved, or
 * from the automatic layout), edges labelled and dashed when virtual or conditional.
 *
 * @example
 * const { nodes, edges } = flowView(buildFlowGraph(steps, 'hello'), flowLayout(file, 'hello'))
 */
import type { Edge, Node } from '@xyflow/react'
import type { StepManifest } from '../api/types'
import type { FlowGraph, GraphEdge } from './build'
import { type Point, layeredLayout } from './layout'
import { mergePositions, type NodeConfig, type SourceHandlePosition, stepLayoutKey, type TargetHandlePosition } from './layout-file'

/** Node boxes have a fixed size (CSS keeps them so), which the layout relies on. */
export const NODE_WIDTH = 248
export const NODE_HEIGHT = 96

export interface StepNodeData extends Record<string, unknown> {
  step: StepManifest
  /** Key of the step in motia-workbench.json. */
  layoutKey: string
  sourceHandle: SourceHandlePosition
  targetHandle: TargetHandlePosition
}

export type StepNode = Node<StepNodeData>

export interface StepEdgeData extends Record<string, unknown> {
  topic: string
  virtual: boolean
  conditional: boolean
}

export type StepEdge = Edge<StepEdgeData>

export function autoLayout(graph: FlowGraph): Map<string, Point> {
  return layeredLayout(
    graph.nodes.map((n) => ({ id: n.id, width: NODE_WIDTH, height: NODE_HEIGHT })),
    graph.edges,
    { rankGap: 150, nodeGap: 40 },
  )
}

export function edgeLabel(edge: GraphEdge): string {
  return edge.label ?? edge.topic
}

export function toViewEdge(edge: GraphEdge): StepEdge {
  const classes = ['flow-edge']
  if (edge.virtual) classes.push('flow-edge--virtual')
  if (edge.conditional) classes.push('flow-edge--conditional')
  return {
    id: edge.id,
    source: edge.source,
    target: edge.target,
    label: edgeLabel(edge),
    className: classes.join(' '),
    markerEnd: { type: 'arrowclosed', width: 16, height: 16, color: '#8b93a5' },
    data: { topic: edge.topic, virtual: edge.virtual, conditional: edge.conditional },
  }
}

export function flowView(
  graph: FlowGraph,
  saved: Record<string, NodeConfig>,
  auto: Map<string, Point> = autoLayout(graph),
): { nodes: StepNode[]; edges: StepEdge[] } {
  const placed = graph.nodes.map((n) => ({ id: n.id, key: stepLayoutKey(n.step), width: NODE_WIDTH, height: NODE_HEIGHT }))
  const positions = mergePositions(placed, saved, auto)
  const nodes = graph.nodes.map((n, i): StepNode => {
    const key = placed[i]!.key
    return {
      id: n.id,
      type: n.type,
      position: positions.get(n.id) ?? { x: 0, y: 0 },
      data: {
        step: n.step,
        layoutKey: key,
        sourceHandle: saved[key]?.sourceHandlePosition ?? 'right',
        targetHandle: saved[key]?.targetHandlePosition ?? 'left',
      },
    }
  })
  return { nodes, edges: graph.edges.map(toViewEdge) }
}

export interface Viewport {
  x: number
  y: number
  zoom: number
}

/**
 * The first view of a flow: the whole graph when it fits at a readable zoom; otherwise zoomed no smaller than
 * `minZoom`, starting at its left edge (where the entry points are) and centred vertically, so a phone shows
 * readable steps that the user pans through rather than a thumbnail.
 */
export function initialViewport(
  nodes: ReadonlyArray<{ position: Point }>,
  container: { width: number; height: number },
  options: { padding?: number; minZoom?: number; maxZoom?: number } = {},
): Viewport {
  const padding = options.padding ?? 32
  const minZoom = options.minZoom ?? 0.6
  const maxZoom = options.maxZoom ?? 1
  if (nodes.length === 0 || container.width <= 0 || container.height <= 0) return { x: 0, y: 0, zoom: 1 }
  const minX = Math.min(...nodes.map((n) => n.position.x))
  const minY = Math.min(...nodes.map((n) => n.position.y))
  const maxX = Math.max(...nodes.map((n) => n.position.x + NODE_WIDTH))
  const maxY = Math.max(...nodes.map((n) => n.position.y + NODE_HEIGHT))
  const width = maxX - minX
  const height = maxY - minY
  const fit = Math.min((container.width - 2 * padding) / width, (container.height - 2 * padding) / height)
  const zoom = Math.max(minZoom, Math.min(maxZoom, fit))
  const x = width * zoom <= container.width - 2 * padding ? (container.width - width * zoom) / 2 - minX * zoom : padding - minX * zoom
  const y = height * zoom <= container.height - 2 * padding ? (container.height - height * zoom) / 2 - minY * zoom : padding - minY * zoom
  return { x: Math.round(x), y: Math.round(y), zoom }
}
