/**
 * How the worker writes its own lines and its steps' logs to the console: `pretty` (one readable line each,
 * coloured on a terminal: the default under `cfp dev`) or `json` (one JSON object per line, for log shippers: the
 * default otherwise). JSON lines carry `time`, `level`, `msg`, and the `tenant`, `project`, `trace_id` and
 * `span_id` (the attempt's invocation id) where known.
 */
import { formatLogLine } from '@cfp/sdk'
import type { LogEntry } from '../frame-types.js'

export type LogFormat = 'json' | 'pretty'

/** `--log-format`, else `CFP_LOG_FORMAT`, else pretty with `--watch` or `NODE_ENV=development`, JSON otherwise. */
export function resolveLogFormat(flag: string | undefined, env: Record<string, string | undefined>, watch: boolean): LogFormat {
  const v = (flag ?? env.CFP_LOG_FORMAT ?? '').toLowerCase()
  if (v === 'json' || v === 'pretty') return v
  if (v !== '') throw new Error(`--log-format must be json or pretty, got '${v}'`)
  return watch || env.NODE_ENV === 'development' ? 'pretty' : 'json'
}

/** Who the lines are about: set from the runtime's `welcome`. */
export interface LogContext {
  tenant?: string
  project?: string
}

/** One JSON line (no trailing newline); fields left undefined are omitted. */
export function jsonLine(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields)
  } catch {
    const { data: _data, ...rest } = fields
    return JSON.stringify({ ...rest, data: '[unserialisable data]' })
  }
}

/** A step's log entry as a console line in `format`. */
export function formatEntry(entry: LogEntry, format: LogFormat, ctx: LogContext, color: boolean): string {
  if (format === 'pretty') return formatLogLine(entry, { color, prefix: entry.step })
  return jsonLine({
    time: new Date(entry.ts).toISOString(),
    level: entry.level,
    msg: entry.msg,
    tenant: ctx.tenant,
    project: ctx.project,
    step: entry.step,
    trace_id: entry.traceId,
    span_id: entry.invocationId,
    data: entry.data && Object.keys(entry.data).length > 0 ? entry.data : undefined,
  })
}

/** A status line of the worker itself (`cfp-worker: …`) in `format`. */
export function formatStatus(msg: string, level: 'info' | 'warn' | 'error', format: LogFormat, ctx: LogContext): string {
  if (format === 'pretty') return msg
  return jsonLine({ time: new Date().toISOString(), level, msg, tenant: ctx.tenant, project: ctx.project })
}
