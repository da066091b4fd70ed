import { describe, expect, it } from 'vitest'
import type { StepManifest } from '../api/types'
import { buildFlowGraph, buildFlows, flowNames, UNGROUPED_FLOW } from './build'

// the manifests examples/hello registers
const hello: StepManifest[] = [
  { name: 'LogGreeting', type: 'event', file: 'steps/log-greeting.step.ts', subscribes: ['hello.processed'], emits: [], flows: ['hello'] },
  { name: 'HelloApi', type: 'api', file: 'steps/hello-api.step.ts', path: '/hello', method: 'POST', emits: ['hello.received'], flows: ['hello'] },
  { name: 'GreetingReport', type: 'cron', file: 'steps/greeting-report.step.ts', cron: '* * * * *', emits: [], flows: ['hello'] },
  {
    name: 'ManualReview',
    type: 'noop',
    file: 'steps/manual-review.step.ts',
    virtualSubscribes: ['hello.processed'],
    virtualEmits: [{ topic: 'hello.reviewed', label: 'reviewed by a person' }],
    flows: ['hello'],
  },
  {
    name: 'ProcessGreeting',
    type: 'event',
    file: 'steps/process-greeting.step.ts',
    subscribes: ['hello.received'],
    emits: ['hello.processed'],
    flows: ['hello'],
  },
]

describe('buildFlowGraph', () => {
  it('draws every step of the flow as a node, entry points first', () => {
    const g = buildFlowGraph(hello, 'hello')
    expect(g.nodes.map((n) => [n.id, n.type])).toEqual([
      ['HelloApi', 'api'],
      ['GreetingReport', 'cron'],
      ['LogGreeting', 'event'],
      ['ProcessGreeting', 'event'],
      ['ManualReview', 'noop'],
    ])
  })

  it('connects emitters to subscribers; a virtual subscriber gets a virtual edge', () => {
    const g = buildFlowGraph(hello, 'hello')
    expect(g.edges.map((e) => [e.source, e.target, e.topic, e.virtual, e.conditional])).toEqual([
      ['HelloApi', 'ProcessGreeting', 'hello.received', false, false],
      ['ProcessGreeting', 'LogGreeting', 'hello.processed', false, false],
      ['ProcessGreeting', 'ManualReview', 'hello.processed', true, false],
    ])
  })

  it('labels edges from emit objects, marks conditional and virtual emits', () => {
    const steps: StepManifest[] = [
      {
        name: 'Reserve',
        type: 'event',
        subscribes: ['order.created'],
        emits: [
          { topic: 'inventory.reserved', label: 'in stock', conditional: true },
          { topic: 'inventory.insufficient', label: 'out of stock', conditional: true },
        ],
        virtualEmits: ['warehouse.pick'],
        flows: ['orders'],
      },
      { name: 'Charge', type: 'event', subscribes: ['inventory.reserved'], emits: [], flows: ['orders'] },
      { name: 'Notify', type: 'event', subscribes: ['inventory.insufficient'], emits: [], flows: ['orders'] },
      { name: 'Pick', type: 'noop', virtualSubscribes: ['warehouse.pick'], virtualEmits: [], flows: ['orders'] },
    ]
    const g = buildFlowGraph(steps, 'orders')
    const byTarget = Object.fromEntries(g.edges.map((e) => [e.target, e]))
    expect(byTarget.Charge).toMatchObject({ source: 'Reserve', label: 'in stock', conditional: true, virtual: false })
    expect(byTarget.Notify).toMatchObject({ label: 'out of stock', conditional: true })
    expect(byTarget.Pick).toMatchObject({ topic: 'warehouse.pick', virtual: true, conditional: false })
    expect(byTarget.Pick?.label).toBeUndefined()
  })

  it('keeps edges inside the flow and one edge per (source, target, topic)', () => {
    const steps: StepManifest[] = [
      { name: 'A', type: 'api', path: '/a', method: 'POST', emits: ['t', 't'], virtualEmits: ['t'], flows: ['one'] },
      { name: 'B', type: 'event', subscribes: ['t'], virtualSubscribes: ['t'], emits: [], flows: ['one'] },
      { name: 'C', type: 'event', subscribes: ['t'], emits: [], flows: ['two'] },
    ]
    const one = buildFlowGraph(steps, 'one')
    expect(one.edges).toHaveLength(1)
    expect(one.edges[0]).toMatchObject({ source: 'A', target: 'B', virtual: false })
    expect(buildFlowGraph(steps, 'two').edges).toEqual([])
  })

  it('puts a step of several flows in each, and steps without flows in the ungrouped pseudo-flow', () => {
    const steps: StepManifest[] = [
      { name: 'Shared', type: 'event', subscribes: ['x'], emits: [], flows: ['b', 'a'] },
      { name: 'Loose', type: 'cron', cron: '0 * * * *', emits: [] },
    ]
    expect(flowNames(steps)).toEqual(['a', 'b', UNGROUPED_FLOW])
    const flows = buildFlows(steps)
    expect(flows.map((f) => [f.id, f.nodes.map((n) => n.id)])).toEqual([
      ['a', ['Shared']],
      ['b', ['Shared']],
      [UNGROUPED_FLOW, ['Loose']],
    ])
  })
})
