/**
 * The control plane's log lines (pino, through Fastify): JSON by default, one object per line; `--log-format
 * pretty` turns each into one readable line. Request logs carry `tenant` and `project` when the route names them
 * (`:tenantId`, `:projectId`) and `trace_id`/`span_id` from a W3C `traceparent` header when the caller sent one.
 */
import type { FastifyInstance } from 'fastify'

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v'])

/** One pino JSON line as `12:00:00.123 INFO  message key=value …` (the line unchanged when it is not JSON). */
export function prettyLine(json: string): string {
  let rec: Record<string, unknown>
  try {
    rec = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json.trimEnd()
  }
  const time = new Date(typeof rec.time === 'number' ? rec.time : Date.now()).toISOString().slice(11, 23)
  const level = (LEVELS[Number(rec.level)] ?? String(rec.level)).padEnd(5)
  const rest = Object.entries(rec)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
  return `${time} ${level} ${String(rec.msg ?? '')}${rest ? ` ${rest}` : ''}`
}

/** A pino destination writing pretty lines to `out` (stderr by default). */
export function prettyStream(out: { write(s: string): unknown } = process.stderr): { write(line: string): void } {
  return {
    write(line: string) {
      for (const l of line.split('\n')) if (l) out.write(`${prettyLine(l)}\n`)
    },
  }
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/

/** Adds tenant, project and trace ids to each request's logger where known. */
export function installLogContext(app: FastifyInstance): void {
  app.addHook('preHandler', async (request) => {
    const params = (request.params ?? {}) as Record<string, unknown>
    const fields: Record<string, string> = {}
    if (typeof params.tenantId === 'string') fields.tenant = params.tenantId
    if (typeof params.projectId === 'string') fields.project = params.projectId
    const tp = TRACEPARENT.exec(String(request.headers.traceparent ?? '').trim())
    if (tp?.[1] && tp[2] && !/^0+$/.test(tp[1])) {
      fields.trace_id = tp[1]
      fields.span_id = tp[2]
    }
    if (Object.keys(fields).length > 0) request.log = request.log.child(fields)
  })
}
