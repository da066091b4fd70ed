import { describe, expect, it } from 'vitest'
import type { StepManifest } from '../api/types'
import { buildFlowGraph } from './build'
import { flowView, initialViewport, NODE_HEIGHT, NODE_WIDTH } from './view'

const steps: StepManifest[] = [
  { name: 'Api', type: 'api', file: 'steps/api.step.ts', path: '/a', method: 'POST', emits: ['a'], flows: ['f'] },
  { name: 'Worker', type: 'event', file: 'steps/worker.step.ts', subscribes: ['a'], emits: [{ topic: 'b', conditional: true, label: 'maybe' }], flows: ['f'] },
  { name: 'Human', type: 'noop', file: 'steps/human.step.ts', virtualSubscribes: ['b'], virtualEmits: [], flows: ['f'] },
]

describe('flowView', () => {
  it('types nodes by step type, labels edges and marks dashed ones', () => {
    const { nodes, edges } = flowView(buildFlowGraph(steps, 'f'), {})
    expect(nodes.map((n) => [n.id, n.type, n.data.layoutKey])).toEqual([
      ['Api', 'api', 'steps/api.step.ts'],
      ['Worker', 'event', 'steps/worker.step.ts'],
      ['Human', 'noop', 'steps/human.step.ts'],
    ])
    expect(edges.map((e) => [e.source, e.target, e.label, e.className])).toEqual([
      ['Api', 'Worker', 'a', 'flow-edge'],
      ['Worker', 'Human', 'maybe', 'flow-edge flow-edge--virtual flow-edge--conditional'],
    ])
  })

  it('places nodes from the layout file and keeps its handle positions', () => {
    const { nodes } = flowView(buildFlowGraph(steps, 'f'), {
      'steps/api.step.ts': { x: -40, y: 300, sourceHandlePosition: 'bottom' },
      'steps/worker.step.ts': { x: 400, y: 300 },
      'steps/human.step.ts': { x: 800, y: 300, targetHandlePosition: 'top' },
    })
    expect(nodes[0]).toMatchObject({ position: { x: -40, y: 300 }, data: { sourceHandle: 'bottom', targetHandle: 'left' } })
    expect(nodes[2]).toMatchObject({ position: { x: 800, y: 300 }, data: { sourceHandle: 'right', targetHandle: 'top' } })
  })
})

describe('initialViewport', () => {
  const row = [0, 1, 2, 3].map((i) => ({ position: { x: i * (NODE_WIDTH + 96), y: 0 } }))

  it('centres a graph that fits', () => {
    const v = initialViewport(row.slice(0, 1), { width: 1000, height: 600 })
    expect(v.zoom).toBe(1)
    expect(v.x).toBe(Math.round((1000 - NODE_WIDTH) / 2))
    expect(v.y).toBe(Math.round((600 - NODE_HEIGHT) / 2))
  })

  it('keeps a readable zoom on a narrow screen and starts at the left edge', () => {
    const v = initialViewport(row, { width: 343, height: 500 }, { minZoom: 0.6, padding: 16 })
    expect(v.zoom).toBe(0.6)
    expect(v.x).toBe(16)
  })
})
