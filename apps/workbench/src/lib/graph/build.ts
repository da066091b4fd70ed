/**
 * Flow graphs from step manifests, with Motia's rules: a flow is every step naming it in `flows`; an edge runs
 * from a step that emits a topic (`emits`, or `virtualEmits`) to every step of the same flow subscribed to it
 * (`subscribes`, or `virtualSubscribes`). An edge is virtual when either end is virtual, conditional when the
 * emit says so, and labelled with the emit's label (falling back to the topic).
 *
 * @example
 * const graph = buildFlowGraph(steps, 'hello')
 * graph.edges // [{ source: 'HelloApi', target: 'ProcessGreeting', topic: 'hello.received', … }]
 */
import type { Emit, StepManifest, StepType } from '../api/types'

/** The pseudo-flow holding steps whose config names no flow. */
export const UNGROUPED_FLOW = '(no flow)'

export interface GraphNode {
  id: string
  type: StepType
  step: StepManifest
}

export interface GraphEdge {
  id: string
  source: string
  target: string
  topic: string
  /** The emit's `label`, if it has one. */
  label?: string
  conditional: boolean
  virtual: boolean
}

export interface FlowGraph {
  id: string
  nodes: GraphNode[]
  edges: GraphEdge[]
}

export interface NormalizedEmit {
  topic: string
  label?: string
  conditional: boolean
}

export function normalizeEmit(emit: Emit): NormalizedEmit {
  if (typeof emit === 'string') return { topic: emit, conditional: false }
  const out: NormalizedEmit = { topic: emit.topic, conditional: emit.conditional === true }
  if (emit.label) out.label = emit.label
  return out
}

const TYPE_ORDER: Record<StepType, number> = { api: 0, cron: 1, event: 2, noop: 3 }

function typeRank(type: string): number {
  return TYPE_ORDER[type as StepType] ?? 4
}

/** Entry points first (api, cron), then event and noop steps; by name within a type. */
export function compareSteps(a: StepManifest, b: StepManifest): number {
  return typeRank(a.type) - typeRank(b.type) || a.name.localeCompare(b.name)
}

/** Every flow named by a step, sorted, followed by {@link UNGROUPED_FLOW} when some step names none. */
export function flowNames(steps: readonly StepManifest[]): string[] {
  const names = new Set<string>()
  let ungrouped = false
  for (const step of steps) {
    if (!step.flows || step.flows.length === 0) ungrouped = true
    for (const flow of step.flows ?? []) names.add(flow)
  }
  const sorted = [...names].sort((a, b) => a.localeCompare(b))
  if (ungrouped) sorted.push(UNGROUPED_FLOW)
  return sorted
}

export function stepsInFlow(steps: readonly StepManifest[], flow: string): StepManifest[] {
  const inFlow = flow === UNGROUPED_FLOW ? steps.filter((s) => !s.flows || s.flows.length === 0) : steps.filter((s) => s.flows?.includes(flow))
  return [...inFlow].sort(compareSteps)
}

/** The edges between the given steps (all assumed to be in one flow). */
export function buildEdges(steps: readonly StepManifest[]): GraphEdge[] {
  const edges: GraphEdge[] = []
  const seen = new Set<string>()
  for (const source of steps) {
    const emits: Array<[Emit, boolean]> = [
      ...(source.emits ?? []).map((e): [Emit, boolean] => [e, false]),
      ...(source.virtualEmits ?? []).map((e): [Emit, boolean] => [e, true]),
    ]
    for (const [raw, virtualEmit] of emits) {
      const emit = normalizeEmit(raw)
      if (!emit.topic) continue
      for (const target of steps) {
        const real = target.subscribes?.includes(emit.topic) ?? false
        const virtualSub = target.virtualSubscribes?.includes(emit.topic) ?? false
        if (!real && !virtualSub) continue
        const id = `${source.name}->${target.name}:${emit.topic}`
        if (seen.has(id)) continue
        seen.add(id)
        const edge: GraphEdge = {
          id,
          source: source.name,
          target: target.name,
          topic: emit.topic,
          conditional: emit.conditional,
          virtual: virtualEmit || !real,
        }
        if (emit.label) edge.label = emit.label
        edges.push(edge)
      }
    }
  }
  return edges
}

export function buildFlowGraph(steps: readonly StepManifest[], flow: string): FlowGraph {
  const members = stepsInFlow(steps, flow)
  return {
    id: flow,
    nodes: members.map((step) => ({ id: step.name, type: step.type, step })),
    edges: buildEdges(members),
  }
}

export function buildFlows(steps: readonly StepManifest[]): FlowGraph[] {
  return flowNames(steps).map((flow) => buildFlowGraph(steps, flow))
}

/** Topics a step listens to, real and virtual. */
export function stepTopics(step: StepManifest): { subscribes: string[]; emits: NormalizedEmit[] } {
  return {
    subscribes: [...(step.subscribes ?? []), ...(step.virtualSubscribes ?? [])],
    emits: [...(step.emits ?? []), ...(step.virtualEmits ?? [])].map(normalizeEmit),
  }
}
