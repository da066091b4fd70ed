/**
 * What `cfp dev` prints when a step fails: one readable line per failed attempt, per thrown API handler and per
 * dead-lettered delivery, coloured only when stdout is a terminal (and NO_COLOR is unset).
 *
 * Sources, each a stable line a child already prints (no extra channel between the processes):
 * - the worker: `cfp-worker: step failed {"step","trigger","attempt","maxAttempts"?,"method"?,"path"?,"traceId","message","retriable"?}`
 *   (packages/worker `failureLine`), for every failed invocation;
 * - the runtime: its `info` log `moved to the dead-letter queue step="…" trace_id=… attempts=n retriable=…`
 *   (crates/engine `fail_delivery`).
 *
 * @example
 * formatFailure({ step: 'Charge', trigger: 'event', attempt: 2, maxAttempts: 3, traceId: 't1', message: 'card declined' }, false)
 * // '✖ Charge failed (attempt 2 of 3): card declined · trace t1'
 */
import type { LineSink } from './child.js'

export const WORKER_FAILURE_PREFIX = 'cfp-worker: step failed '
const DEAD_LETTER = / moved to the dead-letter queue (.*)$/
const MAX_MESSAGE = 500

export interface StepFailure {
  step: string
  trigger: 'api' | 'event' | 'cron'
  attempt: number
  maxAttempts?: number
  method?: string
  path?: string
  traceId: string
  message: string
  retriable?: boolean
}

export interface DeadLetter {
  step: string
  traceId: string
  attempts: number
  retriable: boolean
}

/** The worker's failure line, or undefined for any other line. */
export function parseStepFailure(line: string): StepFailure | undefined {
  if (!line.startsWith(WORKER_FAILURE_PREFIX)) return undefined
  try {
    const v = JSON.parse(line.slice(WORKER_FAILURE_PREFIX.length)) as Partial<StepFailure>
    if (typeof v.step !== 'string' || typeof v.traceId !== 'string' || typeof v.message !== 'string' || typeof v.attempt !== 'number') return undefined
    if (v.trigger !== 'api' && v.trigger !== 'event' && v.trigger !== 'cron') return undefined
    return v as StepFailure
  } catch {
    return undefined
  }
}

/** The runtime's dead-letter log line (tracing's text format, ANSI off), or undefined. */
export function parseDeadLetter(line: string): DeadLetter | undefined {
  const m = DEAD_LETTER.exec(line)
  if (!m?.[1] || !/\bINFO\b/.test(line.slice(0, m.index))) return undefined
  const fields = new Map<string, string>()
  for (const f of m[1].matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
    const raw = f[2] as string
    let value = raw
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string
      } catch {
        value = raw.slice(1, -1)
      }
    }
    fields.set(f[1] as string, value)
  }
  const step = fields.get('step')
  const traceId = fields.get('trace_id')
  const attempts = Number(fields.get('attempts'))
  if (!step || !traceId || !Number.isInteger(attempts)) return undefined
  return { step, traceId, attempts, retriable: fields.get('retriable') !== 'false' }
}

/**
 * Tenant text on one line, safe for a terminal: newlines and tabs become spaces, control characters (ANSI escape
 * sequences included, C0 and C1) are dropped, and it is cut at 500 characters.
 */
export function oneLine(text: string): string {
  const flat = text
    .replace(/\s*[\r\n\t]+\s*/g, ' ')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    .trim()
  return flat.length > MAX_MESSAGE ? `${flat.slice(0, MAX_MESSAGE)}…` : flat
}

function paint(color: boolean) {
  const wrap = (code: string) => (s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s)
  return { red: wrap('31'), bold: wrap('1'), dim: wrap('2'), cyan: wrap('36') }
}

/** `--step` argument as a shell word. */
function shellWord(s: string): string {
  return /^[\w.:@/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

export function formatFailure(f: StepFailure, color: boolean): string {
  const c = paint(color)
  const step = c.bold(oneLine(f.step))
  const trace = c.dim(`· trace ${oneLine(f.traceId)}`)
  if (f.trigger === 'api') {
    const route = f.method && f.path ? ` on ${oneLine(f.method)} ${oneLine(f.path)}` : ''
    return `${c.red('✖')} ${step} threw${route} → 500: ${oneLine(f.message)} ${trace}`
  }
  const of = f.maxAttempts ? ` of ${f.maxAttempts}` : ''
  const final = f.retriable === false ? ', not retriable' : ''
  return `${c.red('✖')} ${step} failed (attempt ${f.attempt}${of}${final}): ${oneLine(f.message)} ${trace}`
}

export function formatDeadLetter(d: DeadLetter, color: boolean): string {
  const c = paint(color)
  const why = d.retriable ? `after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}` : `(not retriable, attempt ${d.attempts})`
  const inspect = c.cyan(`cfp dlq list --step ${shellWord(oneLine(d.step))}`)
  return `${c.red('✖')} ${c.bold(oneLine(d.step))} moved to the dead-letter queue ${why} ${c.dim(`· trace ${oneLine(d.traceId)}`)} — inspect: ${inspect}`
}

/** Whether `cfp dev` colours its failure lines: stdout is a terminal and NO_COLOR is not set. */
export function colorFor(stdout: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return Boolean(stdout.isTTY) && env.NO_COLOR === undefined
}

/** Wraps a sink: the worker's failure lines and the runtime's dead-letter lines become readable lines on stdout. */
export function failureSink(sink: LineSink, color: boolean): LineSink {
  return (name, stream, line) => {
    if (name === 'worker') {
      const f = parseStepFailure(line)
      if (f) return sink(name, 'stdout', formatFailure(f, color))
    } else if (name === 'runtime') {
      const d = parseDeadLetter(line)
      if (d) return sink(name, 'stdout', formatDeadLetter(d, color))
    }
    sink(name, stream, line)
  }
}
