/**
 * Flows: the graph of each flow, laid out automatically or from motia-workbench.json, with live step
 * activity; dragging a step saves its position through PUT /layout; clicking one opens its details.
 */
import {
  Background,
  BackgroundVariant,
  Controls,
  MiniMap,
  type NodeMouseHandler,
  type OnSelectionChangeFunc,
  ReactFlow,
  ReactFlowProvider,
  useNodesState,
  useReactFlow,
  useStoreApi,
} from '@xyflow/react'
import '@xyflow/react/dist/style.css'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { useNavigate, useParams, useSearchParams } from 'react-router'
import { useApi, usePagePath, useRuntimeScope, useSteps } from '../../app/context'
import { ErrorNotice } from '../../components/ErrorNotice'
import { LayoutIcon } from '../../components/Icons'
import { EmptyState, Loading, PageHeader } from '../../components/ui'
import { type ApiClient, ApiError } from '../../lib/api/client'
import { buildFlowGraph, type FlowGraph, flowNames } from '../../lib/graph/build'
import type { Point } from '../../lib/graph/layout'
import { flowLayout, type LayoutFile, type NodeConfig, parseLayoutFile, setFlowLayout, withPositions } from '../../lib/graph/layout-file'
import { autoLayout, flowView, initialViewport, NODE_HEIGHT, NODE_WIDTH, type StepNode } from '../../lib/graph/view'
import { nodeTypes, PluginNodes } from './nodes'
import { useUi } from '../PluginTabPage'

const NO_NODES = {}
import { StepPanel } from './StepPanel'

type SaveState = { kind: 'idle' } | { kind: 'saving' } | { kind: 'saved' } | { kind: 'error'; message: string }

interface LayoutState {
  file: LayoutFile
  /** Why positions cannot be saved, when they cannot. */
  unavailable?: string
}

async function loadLayout(api: ApiClient): Promise<LayoutState> {
  try {
    return { file: parseLayoutFile(await api.layout()) }
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      return {
        file: [],
        unavailable: e.code === 'layout_unavailable' ? 'this runtime has no layout file configured' : 'this runtime has no /layout endpoint',
      }
    }
    return { file: [], unavailable: e instanceof Error ? e.message : String(e) }
  }
}

function positionsByKey(nodes: readonly StepNode[]): Array<[string, Point]> {
  return nodes.map((n) => [n.data.layoutKey, n.position])
}

interface CanvasProps {
  graph: FlowGraph
  saved: Record<string, NodeConfig>
  selected: string | undefined
  onSelect: (name: string | undefined) => void
  onSave: (positions: Array<[string, Point]>) => void
  relayout: number
}

function FlowCanvas({ graph, saved, selected, onSelect, onSave, relayout }: CanvasProps) {
  const view = useMemo(() => flowView(graph, saved), [graph, saved])
  const [nodes, setNodes, onNodesChange] = useNodesState<StepNode>(view.nodes)
  const { fitView, setViewport, setCenter } = useReactFlow()
  const store = useStoreApi()
  const lastRelayout = useRef(relayout)

  // readable on a phone: no smaller than 60 %, starting at the entry points; the whole flow on a desktop
  // biome-ignore lint/correctness/useExhaustiveDependencies: the initial viewport only: later node moves or selections must not re-centre it
  const onInit = useCallback(() => {
    const { width, height } = store.getState()
    const narrow = width < 640
    const viewport = initialViewport(nodes, { width, height }, narrow ? { minZoom: 0.6, padding: 16 } : { minZoom: 0.2, padding: 40 })
    const focus = narrow ? nodes.find((n) => n.id === selected) : undefined
    if (focus) {
      // a linked step on a phone: start centred on it
      void setCenter(focus.position.x + NODE_WIDTH / 2, focus.position.y + NODE_HEIGHT / 2, { zoom: viewport.zoom })
    } else {
      void setViewport(viewport)
    }
  }, [store, setViewport, setCenter])

  // new registration (hot reload): new data and new steps, but keep where the user put the existing ones
  // biome-ignore lint/correctness/useExhaustiveDependencies: new registrations only; selection changes are applied by the next effect
  useEffect(() => {
    setNodes((prev) => {
      const at = new Map(prev.map((n) => [n.id, n.position]))
      return view.nodes.map((n) => ({ ...n, position: at.get(n.id) ?? n.position, selected: n.id === selected }))
    })
  }, [view, setNodes])

  useEffect(() => {
    setNodes((prev) => prev.map((n) => (n.selected === (n.id === selected) ? n : { ...n, selected: n.id === selected })))
  }, [selected, setNodes])

  // "Auto layout": positions from the layered layout, saved, and the view fitted to them
  // biome-ignore lint/correctness/useExhaustiveDependencies: only when "Auto layout" is pressed (the relayout counter)
  useEffect(() => {
    if (relayout === lastRelayout.current) return
    lastRelayout.current = relayout
    const auto = autoLayout(graph)
    const next = nodes.map((n) => ({ ...n, position: auto.get(n.id) ?? n.position }))
    setNodes(next)
    onSave(positionsByKey(next))
    requestAnimationFrame(() => void fitView({ padding: 0.2, maxZoom: 1, duration: 300 }))
  }, [relayout])

  const onNodeClick: NodeMouseHandler<StepNode> = useCallback((_, node) => onSelect(node.id), [onSelect])
  const onSelectionChange: OnSelectionChangeFunc<StepNode> = useCallback(
    ({ nodes: chosen }) => {
      if (chosen.length === 1 && chosen[0]!.id !== selected) onSelect(chosen[0]!.id)
    },
    [onSelect, selected],
  )
  const onNodeDragStop = useCallback(
    (_: unknown, __: StepNode, dragged: StepNode[]) => {
      const moved = new Map(dragged.map((n) => [n.id, n.position]))
      onSave(nodes.map((n) => [n.data.layoutKey, moved.get(n.id) ?? n.position]))
    },
    [nodes, onSave],
  )

  const ui = useUi()
  return (
    <PluginNodes.Provider value={ui.data?.nodes ?? NO_NODES}>
      <ReactFlow<StepNode>
        nodes={nodes}
        edges={view.edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onNodeClick={onNodeClick}
        onSelectionChange={onSelectionChange}
        onNodeDragStop={onNodeDragStop}
        onPaneClick={() => onSelect(undefined)}
        nodesConnectable={false}
        edgesFocusable={false}
        deleteKeyCode={null}
        onInit={onInit}
        minZoom={0.2}
        maxZoom={1.75}
        proOptions={{ hideAttribution: false }}
        aria-label={`Flow ${graph.id}`}
      >
        <Background variant={BackgroundVariant.Dots} gap={18} size={1.2} />
        <Controls showInteractive={false} position="bottom-left" />
        <MiniMap className="hide-narrow" pannable zoomable position="bottom-right" nodeStrokeWidth={2} style={{ width: 168, height: 110 }} />
      </ReactFlow>
    </PluginNodes.Provider>
  )
}

function SaveStatus({ state, unavailable }: { state: SaveState; unavailable?: string }) {
  let text = ''
  let tone = 'muted'
  if (unavailable) {
    text = `Positions are not saved: ${unavailable}`
  } else if (state.kind === 'saving') text = 'Saving layout…'
  else if (state.kind === 'saved') text = 'Layout saved to motia-workbench.json'
  else if (state.kind === 'error') {
    text = `Layout not saved: ${state.message}`
    tone = 'text-error'
  }
  return (
    <p className={`save-status small ${tone}`} role="status" aria-live="polite">
      {text}
    </p>
  )
}

function Legend() {
  return (
    <ul className="legend small" aria-label="Legend">
      <li>
        <span className="legend__swatch legend__swatch--api" /> API
      </li>
      <li>
        <span className="legend__swatch legend__swatch--event" /> Event
      </li>
      <li>
        <span className="legend__swatch legend__swatch--cron" /> Cron
      </li>
      <li>
        <span className="legend__swatch legend__swatch--noop" /> Noop
      </li>
      <li>
        <span className="legend__line" /> emits
      </li>
      <li>
        <span className="legend__line legend__line--dashed" /> virtual / conditional
      </li>
    </ul>
  )
}

export default function FlowsPage() {
  const api = useApi()
  const steps = useSteps()
  const params = useParams()
  const navigate = useNavigate()
  const page = usePagePath()
  const mayMove = useRuntimeScope().can('layout.write')
  const [search, setSearch] = useSearchParams()
  const [layout, setLayout] = useState<LayoutState | undefined>(undefined)
  const [saveState, setSaveState] = useState<SaveState>({ kind: 'idle' })
  const [relayout, setRelayout] = useState(0)

  useEffect(() => {
    let live = true
    void loadLayout(api).then((l) => live && setLayout(l))
    return () => {
      live = false
    }
  }, [api])

  const all = steps.data?.steps
  const flows = useMemo(() => flowNames(all ?? []), [all])
  // the flow is a query parameter (flow names may contain dots, which the runtime treats as file names in paths)
  const wanted = search.get('flow') ?? params.flow
  const flow = wanted && flows.includes(wanted) ? wanted : flows[0]
  const graph = useMemo(() => (flow && all ? buildFlowGraph(all, flow) : undefined), [all, flow])
  const saved = useMemo(() => (layout && flow ? flowLayout(layout.file, flow) : {}), [layout, flow])
  const selectedName = search.get('step') ?? undefined
  const selectedStep = graph?.nodes.find((n) => n.id === selectedName)?.step

  const onSelect = useCallback(
    (name: string | undefined) => {
      setSearch(
        (prev) => {
          const next = new URLSearchParams(prev)
          if (name) next.set('step', name)
          else next.delete('step')
          return next
        },
        { replace: true },
      )
    },
    [setSearch],
  )

  const onSave = useCallback(
    (positions: Array<[string, Point]>) => {
      if (!flow || !layout || layout.unavailable || !mayMove) return
      setSaveState({ kind: 'saving' })
      void (async () => {
        try {
          // re-read, so positions saved meanwhile by another tab or an editor survive
          const current = parseLayoutFile(await api.layout())
          const next = setFlowLayout(current, flow, withPositions(flowLayout(current, flow), positions))
          await api.saveLayout(next)
          setSaveState({ kind: 'saved' })
        } catch (e) {
          setSaveState({ kind: 'error', message: e instanceof Error ? e.message : String(e) })
        }
      })()
    },
    [api, flow, layout, mayMove],
  )

  let body
  if (steps.error && !steps.data) body = <ErrorNotice error={steps.error} what="the steps" onRetry={() => void steps.reload()} />
  else if (!all || !layout) body = <Loading label="Loading flows…" />
  else if (!graph)
    body = (
      <EmptyState title="No steps registered">
        Start a worker for this project (<code>cfp dev</code> does) and its steps appear here.
      </EmptyState>
    )
  else
    body = (
      <>
        <div className={`flow-layout${selectedStep ? ' flow-layout--with-panel' : ''}`}>
          <div className="flow-canvas card" data-testid="flow-canvas">
            <ReactFlowProvider key={graph.id}>
              <FlowCanvas graph={graph} saved={saved} selected={selectedName} onSelect={onSelect} onSave={onSave} relayout={relayout} />
            </ReactFlowProvider>
          </div>
          {selectedStep ? <StepPanel step={selectedStep} onClose={() => onSelect(undefined)} /> : null}
        </div>
        <div className="flow-footer">
          <Legend />
          <SaveStatus
            state={saveState}
            unavailable={layout.unavailable ?? (mayMove ? undefined : 'only the local developer (cfp dev) or an operator saves the layout file')}
          />
        </div>
      </>
    )

  return (
    <div className="page page--flows">
      <PageHeader
        title="Flows"
        description={graph ? `${graph.nodes.length} steps · ${graph.edges.length} connections` : 'Steps and the events between them'}
        actions={
          flows.length > 0 ? (
            <>
              <label className="sr-only" htmlFor="flow-select">
                Flow
              </label>
              <select id="flow-select" className="select" value={flow} onChange={(e) => navigate(page(`/flows?flow=${encodeURIComponent(e.target.value)}`))}>
                {flows.map((f) => (
                  <option key={f} value={f}>
                    {f}
                  </option>
                ))}
              </select>
              <button type="button" className="btn" onClick={() => setRelayout((n) => n + 1)} title="Arrange the steps automatically">
                <LayoutIcon size={16} />
                <span>Auto layout</span>
              </button>
            </>
          ) : null
        }
      />
      {body}
    </div>
  )
}
