/**
 * The four step node types of the flow graph (api, event, cron, noop): defined at module scope and memo'd,
 * as React Flow wants. Each reads only its own live status from the activity store.
 */
import { Handle, type NodeProps, type NodeTypes, Position } from '@xyflow/react'
import { createContext, memo, type ReactNode, useCallback, useContext, useMemo } from 'react'
import { type ActivityState, useActivityStore } from '../../app/context'
import { PluginFrame } from '../../components/PluginFrame'
import { MethodBadge, StepTypeIcon } from '../../components/ui'
import { nodeProps } from '../../lib/plugin-frame'
import { useStoreSelector } from '../../hooks/useStore'
import { stepStatus } from '../../lib/activity'
import { normalizeEmit } from '../../lib/graph/build'
import type { StepNode } from '../../lib/graph/view'
import { describeCron } from '../../lib/format'

const SOURCE_POS = { right: Position.Right, bottom: Position.Bottom } as const
const TARGET_POS = { left: Position.Left, top: Position.Top } as const

const TYPE_LABEL: Record<string, string> = { api: 'API', event: 'Event', cron: 'Cron', noop: 'Noop' }
const STATUS_LABEL = { idle: '', running: 'running', ok: 'succeeded', error: 'failed' } as const

function useStepStatus(name: string) {
  const store = useActivityStore()
  const select = useCallback((s: ActivityState) => stepStatus(s.map[name], s.now), [name])
  return useStoreSelector(store, select)
}

/** Steps with a node component (`*.step.tsx`): step name -> its script (`GET /ui`). */
export const PluginNodes = createContext<Record<string, { file: string; bundle: string }>>({})

/** The tallest a node component may grow in the graph. */
const MAX_NODE_HEIGHT = 480

function PluginNodeBody({ step, bundle }: { step: StepNode['data']['step']; bundle: string }) {
  const props = useMemo(() => nodeProps(step as unknown as Record<string, unknown>), [step])
  return (
    <PluginFrame
      bundle={bundle}
      title={`Node of step ${step.name}`}
      kind="node"
      props={props}
      minHeight={48}
      maxHeight={MAX_NODE_HEIGHT}
      className="plugin-frame--node"
    />
  )
}

function StepNodeFrame({ data, selected, children }: { data: StepNode['data']; selected: boolean; children: ReactNode }) {
  const { step } = data
  const status = useStepStatus(step.name)
  const custom = useContext(PluginNodes)[step.name]
  const hasInput = step.type === 'event' || step.type === 'noop' || (step.virtualSubscribes?.length ?? 0) > 0
  const hasOutput = (step.emits?.length ?? 0) > 0 || (step.virtualEmits?.length ?? 0) > 0 || step.type !== 'noop'
  return (
    <div
      className={`step-node step-node--${step.type} step-node--${status}${selected ? ' step-node--selected' : ''}${custom ? ' step-node--custom' : ''}`}
      data-step={step.name}
      data-status={status}
      aria-label={`${TYPE_LABEL[step.type] ?? step.type} step ${step.name}${status !== 'idle' ? `, ${STATUS_LABEL[status]}` : ''}`}
    >
      {hasInput ? <Handle type="target" position={TARGET_POS[data.targetHandle]} isConnectable={false} /> : null}
      {custom ? (
        <PluginNodeBody step={step} bundle={custom.bundle} />
      ) : (
        <>
          <div className="step-node__head">
            <span className="step-node__type">
              <StepTypeIcon type={step.type} size={13} />
              {TYPE_LABEL[step.type] ?? step.type}
            </span>
            {status !== 'idle' ? <span className={`step-node__status step-node__status--${status}`}>{STATUS_LABEL[status]}</span> : null}
          </div>
          <div className="step-node__name" title={step.name}>
            {step.name}
          </div>
          <div className="step-node__detail">{children}</div>
        </>
      )}
      {hasOutput ? <Handle type="source" position={SOURCE_POS[data.sourceHandle]} isConnectable={false} /> : null}
    </div>
  )
}

const ApiNode = memo(function ApiNode({ data, selected }: NodeProps<StepNode>) {
  return (
    <StepNodeFrame data={data} selected={selected}>
      <MethodBadge method={data.step.method ?? 'GET'} />
      <code className="step-node__mono" title={data.step.path}>
        {data.step.path}
      </code>
    </StepNodeFrame>
  )
})

const EventNode = memo(function EventNode({ data, selected }: NodeProps<StepNode>) {
  const topics = data.step.subscribes ?? []
  return (
    <StepNodeFrame data={data} selected={selected}>
      <span className="step-node__muted">on</span>
      <code className="step-node__mono" title={topics.join(', ')}>
        {topics.join(', ') || '—'}
      </code>
    </StepNodeFrame>
  )
})

const CronNode = memo(function CronNode({ data, selected }: NodeProps<StepNode>) {
  const expr = data.step.cron ?? ''
  const words = describeCron(expr)
  return (
    <StepNodeFrame data={data} selected={selected}>
      <code className="step-node__mono">{expr}</code>
      {words !== expr ? <span className="step-node__muted step-node__ellipsis">{words}</span> : null}
    </StepNodeFrame>
  )
})

const NoopNode = memo(function NoopNode({ data, selected }: NodeProps<StepNode>) {
  const emits = (data.step.virtualEmits ?? []).map((e) => normalizeEmit(e).topic)
  return (
    <StepNodeFrame data={data} selected={selected}>
      <span className="step-node__muted step-node__ellipsis" title={data.step.description}>
        {data.step.description || (emits.length ? `emits ${emits.join(', ')}` : 'not executed')}
      </span>
    </StepNodeFrame>
  )
})

export const nodeTypes: NodeTypes = { api: ApiNode, event: EventNode, cron: CronNode, noop: NoopNode }
