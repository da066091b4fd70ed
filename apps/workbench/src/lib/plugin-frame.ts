/**
 * The postMessage API between the workbench and a plugin component's sandboxed frame (docs/workbench.md,
 * "Plugin tabs and node components"). The frame runs tenant code with an opaque origin; the workbench sends it
 * `cfp:init` and accepts exactly one message back, `cfp:resize`, and only from that frame's window.
 */

/** The tallest a frame may ask to be. */
export const MAX_FRAME_HEIGHT = 4000

/** workbench → frame: what to render (a node's step, minus schemas and settings; a tab's declared props). */
export interface InitMessage {
  type: 'cfp:init'
  kind: 'tab' | 'node'
  props: Record<string, unknown>
}

/** frame → workbench. */
export interface ResizeMessage {
  type: 'cfp:resize'
  height: number
}

/**
 * The message, when it is a well-formed `cfp:resize` sent by `frame` (the iframe's `contentWindow`), its height
 * bounded to `[0, max]`; `undefined` for anything else (another window, another type, extra keys, a height that is
 * not a finite number).
 */
export function readFrameMessage(
  event: { source: unknown; data: unknown },
  frame: Window | null | undefined,
  max = MAX_FRAME_HEIGHT,
): ResizeMessage | undefined {
  if (!frame || event.source !== frame) return undefined
  const d = event.data
  if (typeof d !== 'object' || d === null || Array.isArray(d) || Object.getPrototypeOf(d) !== Object.prototype) return undefined
  const keys = Object.keys(d)
  if (keys.length !== 2 || !keys.includes('type') || !keys.includes('height')) return undefined
  const { type, height } = d as Record<string, unknown>
  if (type !== 'cfp:resize' || typeof height !== 'number' || !Number.isFinite(height)) return undefined
  return { type, height: Math.round(Math.min(Math.max(height, 0), max)) }
}

/** Fields of a step manifest a node component is given (Motia's node `data`): no schemas, no infrastructure. */
const NODE_FIELDS = ['name', 'type', 'description', 'flows', 'subscribes', 'emits', 'virtualEmits', 'virtualSubscribes', 'path', 'method', 'cron'] as const

export function nodeProps(step: Record<string, unknown>): Record<string, unknown> {
  const data: Record<string, unknown> = {}
  for (const k of NODE_FIELDS) if (step[k] !== undefined) data[k] = step[k]
  return { data }
}

export function initMessage(kind: InitMessage['kind'], props: Record<string, unknown> | undefined): InitMessage {
  // Plain JSON: nothing but data crosses into the frame.
  return { type: 'cfp:init', kind, props: JSON.parse(JSON.stringify(props ?? {})) as Record<string, unknown> }
}
