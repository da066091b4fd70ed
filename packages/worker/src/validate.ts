/**
 * A tiny validator combinator kit for protocol frames: each `Check` returns the first problem found (with a JSON
 * path) or `undefined`. Unknown object fields are ignored, as the protocol requires. An optional field that is
 * `null` counts as absent: peers written with serde serialise a missing `Option` as `null` unless told otherwise,
 * and rejecting such a frame would stall an invocation for nothing (the JSON Schema itself stays strict).
 */
export type Check = (value: unknown, path: string) => string | undefined

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)

export const any: Check = () => undefined

export const str =
  (opts: { minLength?: number; pattern?: RegExp } = {}): Check =>
  (v, path) => {
    if (typeof v !== 'string') return `${path} must be a string, got ${kind(v)}`
    if (opts.minLength !== undefined && v.length < opts.minLength) return `${path} must not be empty`
    if (opts.pattern && !opts.pattern.test(v)) return `${path} does not match ${String(opts.pattern)}`
    return undefined
  }

export const num =
  (opts: { integer?: boolean; min?: number; max?: number } = {}): Check =>
  (v, path) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return `${path} must be a number, got ${kind(v)}`
    if (opts.integer && !Number.isInteger(v)) return `${path} must be an integer`
    if (opts.min !== undefined && v < opts.min) return `${path} must be >= ${opts.min}`
    if (opts.max !== undefined && v > opts.max) return `${path} must be <= ${opts.max}`
    return undefined
  }

export const int = (opts: { min?: number; max?: number } = {}): Check => num({ ...opts, integer: true })

export const bool: Check = (v, path) => (typeof v === 'boolean' ? undefined : `${path} must be a boolean, got ${kind(v)}`)

export const literal =
  (...values: readonly (string | number)[]): Check =>
  (v, path) =>
    values.includes(v as string) ? undefined : `${path} must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`

export const arr =
  (item: Check): Check =>
  (v, path) => {
    if (!Array.isArray(v)) return `${path} must be an array, got ${kind(v)}`
    for (const [i, x] of v.entries()) {
      const e = item(x, `${path}[${i}]`)
      if (e) return e
    }
    return undefined
  }

/** An object with `required` and `optional` fields (optional fields may be absent or null). */
export const obj =
  (required: Record<string, Check>, optional: Record<string, Check> = {}, extra?: Check): Check =>
  (v, path) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${path} must be an object, got ${kind(v)}`
    const o = v as Record<string, unknown>
    for (const [k, c] of Object.entries(required)) {
      if (!(k in o) || o[k] === undefined) return `${path}.${k} is required`
      const e = c(o[k], `${path}.${k}`)
      if (e) return e
    }
    for (const [k, c] of Object.entries(optional)) {
      if (o[k] === undefined || o[k] === null) continue
      const e = c(o[k], `${path}.${k}`)
      if (e) return e
    }
    return extra ? extra(v, path) : undefined
  }

/** An object whose every value passes `item` (keys optionally checked by `key`). */
export const record =
  (item: Check, key?: RegExp): Check =>
  (v, path) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${path} must be an object, got ${kind(v)}`
    for (const [k, x] of Object.entries(v)) {
      if (key && !key.test(k)) return `${path} has an invalid key '${k}'`
      const e = item(x, `${path}.${k}`)
      if (e) return e
    }
    return undefined
  }

export const oneOf =
  (...checks: Check[]): Check =>
  (v, path) => {
    const errors = checks.map((c) => c(v, path))
    return errors.some((e) => e === undefined) ? undefined : errors[0]
  }

/** Any JSON object (fields unchecked). */
export const anyObject: Check = record(any)
