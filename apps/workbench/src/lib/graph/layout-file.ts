/**
 * Motia's `motia-workbench.json`: node positions per flow, kept in the project beside the steps.
 *
 * The file is an array of `{ id: <flow name>, config: { <step file, relative to the project>: { x, y,
 * sourceHandlePosition?: 'bottom' | 'right', targetHandlePosition?: 'top' | 'left' } } }`. Saving one flow
 * replaces that flow's entry and keeps every other entry (and unknown fields) as they were. Older Motia
 * versions wrote an object `{ <flow>: { <file>: {x, y} } }`; it is read and rewritten as the array form.
 *
 * @example
 * const file = parseLayoutFile(await api.layout())
 * const next = setFlowLayout(file, 'hello', { 'steps/hello-api.step.ts': { x: 0, y: 0 } })
 * await api.saveLayout(next)
 */
import type { StepManifest } from '../api/types'
import type { Point } from './layout'

export type SourceHandlePosition = 'bottom' | 'right'
export type TargetHandlePosition = 'top' | 'left'

export interface NodeConfig {
  x: number
  y: number
  sourceHandlePosition?: SourceHandlePosition
  targetHandlePosition?: TargetHandlePosition
  [extra: string]: unknown
}

export interface FlowLayout {
  id: string
  config: Record<string, NodeConfig>
  [extra: string]: unknown
}

export type LayoutFile = FlowLayout[]

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function parseNodeConfig(raw: unknown): NodeConfig | undefined {
  if (!isRecord(raw)) return undefined
  const x = Number(raw.x)
  const y = Number(raw.y)
  if (!Number.isFinite(x) || !Number.isFinite(y)) return undefined
  const out: NodeConfig = { ...raw, x, y }
  if (raw.sourceHandlePosition !== 'bottom' && raw.sourceHandlePosition !== 'right') delete out.sourceHandlePosition
  if (raw.targetHandlePosition !== 'top' && raw.targetHandlePosition !== 'left') delete out.targetHandlePosition
  return out
}

function parseConfig(raw: unknown): Record<string, NodeConfig> {
  const config: Record<string, NodeConfig> = {}
  if (!isRecord(raw)) return config
  for (const [key, value] of Object.entries(raw)) {
    const node = parseNodeConfig(value)
    if (node) config[key] = node
  }
  return config
}

/** Reads a layout file leniently: malformed entries are dropped, never thrown at the user. */
export function parseLayoutFile(raw: unknown): LayoutFile {
  if (typeof raw === 'string') {
    try {
      return parseLayoutFile(JSON.parse(raw) as unknown)
    } catch {
      return []
    }
  }
  if (Array.isArray(raw)) {
    const out: LayoutFile = []
    for (const entry of raw) {
      if (!isRecord(entry) || typeof entry.id !== 'string') continue
      out.push({ ...entry, id: entry.id, config: parseConfig(entry.config) })
    }
    return out
  }
  if (isRecord(raw)) {
    // the older object form: { flow: { file: {x, y} } }
    return Object.entries(raw).map(([id, config]) => ({ id, config: parseConfig(config) }))
  }
  return []
}

export function serializeLayoutFile(file: LayoutFile): string {
  return `${JSON.stringify(file, null, 2)}\n`
}

export function flowLayout(file: LayoutFile, flowId: string): Record<string, NodeConfig> {
  return file.find((f) => f.id === flowId)?.config ?? {}
}

/** A new file with the flow's entry replaced (in place) or appended. */
export function setFlowLayout(file: LayoutFile, flowId: string, config: Record<string, NodeConfig>): LayoutFile {
  const index = file.findIndex((f) => f.id === flowId)
  if (index < 0) return [...file, { id: flowId, config }]
  return file.map((f, i) => (i === index ? { ...f, config } : f))
}

/** The key of a step in the file: its file path relative to the project (Motia's), else its name. */
export function stepLayoutKey(step: Pick<StepManifest, 'file' | 'name'>): string {
  return step.file ? step.file.replace(/\\/g, '/').replace(/^\.\//, '') : step.name
}

/**
 * The flow's config with new positions for the given steps; their handle positions and every other step's
 * entry are kept.
 */
export function withPositions(config: Record<string, NodeConfig>, positions: Iterable<[key: string, point: Point]>): Record<string, NodeConfig> {
  const next: Record<string, NodeConfig> = { ...config }
  for (const [key, point] of positions) {
    next[key] = { ...(config[key] ?? {}), x: Math.round(point.x), y: Math.round(point.y) }
  }
  return next
}

export interface PlacedNode {
  id: string
  key: string
  width: number
  height: number
}

/**
 * Final positions: saved ones where the file has them; the others from the automatic layout, moved to the right
 * of the saved nodes when some are saved, so new steps do not land on top of placed ones.
 */
export function mergePositions(nodes: readonly PlacedNode[], saved: Record<string, NodeConfig>, auto: Map<string, Point>, gap = 80): Map<string, Point> {
  const out = new Map<string, Point>()
  const savedNodes = nodes.filter((n) => saved[n.key])
  let offsetX = 0
  if (savedNodes.length > 0 && savedNodes.length < nodes.length) {
    const right = Math.max(...savedNodes.map((n) => saved[n.key]!.x + n.width))
    const autoLeft = Math.min(...nodes.filter((n) => !saved[n.key]).map((n) => auto.get(n.id)?.x ?? 0))
    offsetX = right + gap - autoLeft
  }
  for (const n of nodes) {
    const s = saved[n.key]
    if (s) out.set(n.id, { x: s.x, y: s.y })
    else {
      const a = auto.get(n.id) ?? { x: 0, y: 0 }
      out.set(n.id, { x: a.x + offsetX, y: a.y })
    }
  }
  return out
}
