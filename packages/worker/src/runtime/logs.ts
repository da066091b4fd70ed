/**
 * Step logs: entries are batched into `log` frames (flushed every 50 ms, at 200 entries, and before each
 * `result`), and, in dev, printed to the console as readable lines (filtered by LOG_LEVEL, default info).
 */
import { levelEnabled } from '@cfp/sdk'
import type { LogEntry, LogFrame } from '../frame-types.js'
import { formatEntry, type LogContext, type LogFormat } from './log-format.js'

export interface LogBatcherOptions {
  /** Sends a frame; returns false when there is no connection (entries are then dropped). */
  send: (frame: LogFrame) => boolean
  /** Print each entry to the console. */
  print: boolean
  /** How printed entries look (default pretty). */
  format?: LogFormat
  /** Tenant and project for JSON lines (filled once the runtime welcomed the worker). */
  context?: LogContext
  flushMs?: number
  maxBatch?: number
}

export class LogBatcher {
  private pending: LogEntry[] = []
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly opts: LogBatcherOptions) {}

  add(entry: LogEntry): void {
    if (this.opts.print && levelEnabled(entry.level)) printEntry(entry, this.opts.format ?? 'pretty', this.opts.context ?? {})
    this.pending.push(entry)
    if (this.pending.length >= (this.opts.maxBatch ?? 200)) this.flush()
    else this.timer ??= setTimeout(() => this.flush(), this.opts.flushMs ?? 50)
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.pending.length === 0) return
    const entries = this.pending
    this.pending = []
    this.opts.send({ type: 'log', entries: entries.map(serialisable) })
  }
}

function printEntry(entry: LogEntry, format: LogFormat, context: LogContext): void {
  const line = formatEntry(entry, format, context, Boolean(process.stdout.isTTY))
  if (entry.level === 'error' || entry.level === 'warn') console.error(line)
  else console.log(line)
}

/** Makes `data` JSON-safe: circular references, BigInts and functions cannot break a log frame. */
function serialisable(entry: LogEntry): LogEntry {
  if (!entry.data) return entry
  try {
    JSON.stringify(entry.data)
    return entry
  } catch {
    const seen = new WeakSet<object>()
    const json = JSON.stringify(entry.data, (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString()
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[Circular]'
        seen.add(v)
      }
      return v
    })
    return { ...entry, data: JSON.parse(json) as Record<string, unknown> }
  }
}
