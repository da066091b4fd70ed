/**
 * The Endpoints page's request builder: path parameters (`/orders/:id`), query and header rows, an example
 * body generated from the step's JSON Schema, and the response shown back.
 *
 * @example
 * buildRequestUrl('/orders/:id', { id: 'o 1' }, [{ key: 'full', value: '1', enabled: true }])
 * // '/orders/o%201?full=1'
 */
import type { JsonSchema } from './api/types'

export interface KeyValue {
  key: string
  value: string
  enabled: boolean
}

/** Names of the `:name` (and `{name}`) segments of a route path, in order. */
export function pathParamNames(path: string): string[] {
  const names: string[] = []
  for (const segment of path.split('/')) {
    const m = /^:([A-Za-z0-9_]+)$/.exec(segment) ?? /^\{([A-Za-z0-9_]+)\}$/.exec(segment)
    if (m && !names.includes(m[1]!)) names.push(m[1]!)
  }
  return names
}

export function missingPathParams(path: string, values: Record<string, string>): string[] {
  return pathParamNames(path).filter((name) => !(values[name] ?? '').trim())
}

export function fillPath(path: string, values: Record<string, string>): string {
  return path
    .split('/')
    .map((segment) => {
      const m = /^:([A-Za-z0-9_]+)$/.exec(segment) ?? /^\{([A-Za-z0-9_]+)\}$/.exec(segment)
      return m ? encodeURIComponent(values[m[1]!] ?? '') : segment
    })
    .join('/')
}

export function buildRequestUrl(path: string, values: Record<string, string>, query: readonly KeyValue[]): string {
  const search = new URLSearchParams()
  for (const row of query) if (row.enabled && row.key.trim()) search.append(row.key.trim(), row.value)
  const qs = search.toString()
  return `${fillPath(path, values)}${qs ? `?${qs}` : ''}`
}

export function headersFromRows(rows: readonly KeyValue[]): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const row of rows) if (row.enabled && row.key.trim()) headers[row.key.trim().toLowerCase()] = row.value
  return headers
}

/**
 * What the Endpoints page sends for one call: the header rows and body as given, and the caller's token only
 * when the call's "Send my token" box is ticked (`sendToken`, off by default). See `ApiClient.callStep`.
 */
export function endpointCall(
  headers: Record<string, string>,
  body: string | undefined,
  sendToken: boolean,
): { headers: Record<string, string>; body?: string; sendToken: boolean } {
  return { headers, ...(body !== undefined ? { body } : {}), sendToken }
}

export function methodHasBody(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS', 'DELETE'].includes(method.toUpperCase())
}

/** Parses the body editor's text; an empty editor sends no body. */
export function parseJsonBody(text: string): { ok: true; body: string | undefined } | { ok: false; error: string } {
  if (!text.trim()) return { ok: true, body: undefined }
  try {
    JSON.parse(text)
    return { ok: true, body: text }
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) }
  }
}

function asSchema(v: unknown): JsonSchema | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonSchema) : undefined
}

/** An example value for a JSON Schema: examples/defaults/enums first, then a value of the declared type. */
export function sampleFromSchema(schema: JsonSchema | undefined, depth = 0): unknown {
  if (!schema || depth > 6) return null
  if ('example' in schema) return schema.example
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0]
  if ('default' in schema) return schema.default
  if ('const' in schema) return schema.const
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = schema[key]
    if (Array.isArray(options)) {
      const first = options.map(asSchema).find((s) => s && s.type !== 'null')
      if (first) return sampleFromSchema(first, depth + 1)
    }
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type
  switch (type) {
    case 'object': {
      const props = asSchema(schema.properties) ?? {}
      const out: Record<string, unknown> = {}
      for (const [name, sub] of Object.entries(props)) out[name] = sampleFromSchema(asSchema(sub), depth + 1)
      return out
    }
    case 'array': {
      const items = asSchema(schema.items)
      return items ? [sampleFromSchema(items, depth + 1)] : []
    }
    case 'string':
      if (schema.format === 'date-time') return new Date(0).toISOString()
      if (schema.format === 'email') return 'ada@example.com'
      if (schema.format === 'uuid') return '00000000-0000-4000-8000-000000000000'
      return 'string'
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 0
    case 'boolean':
      return false
    case 'null':
      return null
    default:
      return schema.properties ? sampleFromSchema({ ...schema, type: 'object' }, depth) : null
  }
}

export interface ShownBody {
  kind: 'json' | 'text' | 'empty'
  text: string
}

export function formatResponseBody(text: string, contentType: string | null): ShownBody {
  if (!text) return { kind: 'empty', text: '' }
  const looksJson = (contentType ?? '').includes('json') || /^\s*[[{"]/.test(text)
  if (looksJson) {
    try {
      return { kind: 'json', text: JSON.stringify(JSON.parse(text), null, 2) }
    } catch {
      // fall through: shown as text
    }
  }
  return { kind: 'text', text }
}

export function statusTone(status: number): 'ok' | 'warn' | 'error' {
  if (status >= 500 || status === 0) return 'error'
  if (status >= 400) return 'warn'
  return 'ok'
}

/**
 * Why a call from the page got no response. Served by the control plane, the call goes to another origin: the
 * browser withholds the answer unless the project's CORS allowlist lists this workbench's origin.
 */
export function callFailureText(message: string, crossOriginFrom?: string): string {
  if (!crossOriginFrom) return message
  return `${message}. The runtime did not answer, or the browser blocked the call: the project's CORS allowlist (Project settings → CORS in the control plane) must list ${crossOriginFrom}.`
}
