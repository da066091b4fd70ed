/**
 * The step logger (`ctx.logger`, Motia's `Logger`): `info`, `warn`, `error`, `debug`, `log({level, msg, ...})`
 * and `child(meta)`. Each call becomes a `LogRecord` handed to a sink: the worker's sink batches records into
 * `log` frames; the default sink prints a readable line to the console.
 *
 * The class has no private members, so any object with the same methods satisfies its type.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface LogRecord {
  ts: number
  level: LogLevel
  msg: string
  data?: Record<string, unknown>
}

export type LogSink = (record: LogRecord) => void

const LEVEL_ALIASES: Record<string, LogLevel> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  log: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'error',
  fatal: 'error',
}

/** Maps Motia/pino-style level names onto the four protocol levels (unknown names become `info`). */
export function toLogLevel(level: unknown): LogLevel {
  return (typeof level === 'string' && LEVEL_ALIASES[level.toLowerCase()]) || 'info'
}

export class Logger {
  constructor(
    readonly meta: Record<string, unknown> = {},
    readonly sink: LogSink = consoleSink,
  ) {}

  child(meta: Record<string, unknown>): Logger {
    return new Logger({ ...this.meta, ...meta }, this.sink)
  }

  info(message: string, args?: unknown): void {
    this.emitRecord('info', message, args)
  }

  warn(message: string, args?: unknown): void {
    this.emitRecord('warn', message, args)
  }

  error(message: string, args?: unknown): void {
    this.emitRecord('error', message, args)
  }

  debug(message: string, args?: unknown): void {
    this.emitRecord('debug', message, args)
  }

  /** Motia's structured form: `logger.log({ level: 'info', msg: 'hello', ...fields })`. */
  log(args: unknown): void {
    if (typeof args === 'object' && args !== null) {
      const { level, msg, ...rest } = args as { level?: unknown; msg?: unknown }
      this.emitRecord(toLogLevel(level), typeof msg === 'string' ? msg : String(msg ?? ''), rest)
    } else {
      this.emitRecord('info', String(args), undefined)
    }
  }

  emitRecord(level: LogLevel, message: unknown, args: unknown): void {
    const data = logData(this.meta, args)
    const record: LogRecord = { ts: Date.now(), level, msg: typeof message === 'string' ? message : String(message) }
    if (data) record.data = data
    this.sink(record)
  }
}

/** Merges logger meta and call arguments into the `data` object of a log entry; `Error`s become plain objects. */
export function logData(meta: Record<string, unknown>, args: unknown): Record<string, unknown> | undefined {
  let extra: Record<string, unknown>
  if (args === undefined || args === null) extra = {}
  else if (args instanceof Error) extra = { error: errorToObject(args) }
  else if (typeof args === 'object' && !Array.isArray(args)) extra = args as Record<string, unknown>
  else extra = { value: args }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries({ ...meta, ...extra })) out[k] = v instanceof Error ? errorToObject(v) : v
  return Object.keys(out).length > 0 ? out : undefined
}

function errorToObject(e: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { name: e.name, message: e.message }
  if (e.stack) out.stack = e.stack
  return out
}

const COLORS: Record<LogLevel, string> = { debug: '\x1b[90m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' }

/** One readable console line: `12:00:00.123 INFO  [step] message {data}` (colours only on a TTY). */
export function formatLogLine(record: LogRecord, opts: { color?: boolean; prefix?: string } = {}): string {
  const time = new Date(record.ts).toISOString().slice(11, 23)
  const level = record.level.toUpperCase().padEnd(5)
  const lvl = opts.color ? `${COLORS[record.level]}${level}\x1b[0m` : level
  const prefix = opts.prefix ? `[${opts.prefix}] ` : ''
  let data = ''
  if (record.data && Object.keys(record.data).length > 0) {
    try {
      data = ` ${JSON.stringify(record.data)}`
    } catch {
      data = ' [unserialisable data]'
    }
  }
  return `${time} ${lvl} ${prefix}${record.msg}${data}`
}

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/** Whether `level` passes the `LOG_LEVEL` environment variable (default `info`), as Motia's logger does. */
export function levelEnabled(level: LogLevel): boolean {
  return LEVEL_ORDER[level] >= LEVEL_ORDER[toLogLevel(process.env.LOG_LEVEL ?? 'info')]
}

/** The default sink: prints to stdout/stderr, honouring `LOG_LEVEL`. */
export const consoleSink: LogSink = (record) => {
  if (!levelEnabled(record.level)) return
  const color = Boolean(process.stdout.isTTY)
  const line = formatLogLine(record, { color })
  if (record.level === 'error' || record.level === 'warn') console.error(line)
  else console.log(line)
}

/** Motia's process-wide logger, for code that runs outside a handler. */
export const globalLogger = new Logger()
