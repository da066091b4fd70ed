// RFC 8785 — the JSON Canonicalization Scheme (JCS). The leaf of an audit entry is the JCS form of the entry.
//
// - Object members are sorted by their names' UTF-16 code units (JavaScript's default string order) and written
//   without white space; array order is kept.
// - Strings are written as ECMAScript's JSON.stringify writes them (only `"`, `\` and the controls below U+0020 are
//   escaped, the controls as \b \t \n \f \r or \u00xx with lowercase hex); a lone surrogate is refused (I-JSON).
// - Numbers are written as ECMAScript's Number.prototype.toString does (RFC 8785 §3.2.2.3); NaN and ±Infinity are
//   refused; -0 is written `0`.
// Anything that is not JSON (undefined, functions, symbols, bigints, class instances such as Date or Map) is refused
// rather than silently dropped or converted, so a writer cannot hash something other than what it meant.

export class CanonicalizeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CanonicalizeError'
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function str(s: string, path: string): string {
  if (LONE_SURROGATE.test(s)) throw new CanonicalizeError(`lone surrogate in a string at ${path}`)
  return JSON.stringify(s)
}

function write(value: unknown, path: string, depth: number, out: string[]): void {
  if (depth > 256) throw new CanonicalizeError(`nesting deeper than 256 at ${path}`)
  if (value === null) {
    out.push('null')
    return
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false')
      return
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalizeError(`number ${value} at ${path} is not finite`)
      out.push(Object.is(value, -0) ? '0' : String(value))
      return
    case 'string':
      out.push(str(value, path))
      return
    case 'object': {
      if (Array.isArray(value)) {
        out.push('[')
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out.push(',')
          write(value[i], `${path}[${i}]`, depth + 1, out)
        }
        out.push(']')
        return
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw new CanonicalizeError(`value at ${path} is not a plain object`)
      const keys = Object.keys(value).sort()
      out.push('{')
      let first = true
      for (const k of keys) {
        const v = (value as Record<string, unknown>)[k]
        if (v === undefined) throw new CanonicalizeError(`member ${JSON.stringify(k)} at ${path} is undefined`)
        if (!first) out.push(',')
        first = false
        out.push(str(k, path), ':')
        write(v, `${path}.${k}`, depth + 1, out)
      }
      out.push('}')
      return
    }
    default:
      throw new CanonicalizeError(`value at ${path} is a ${typeof value}, not JSON`)
  }
}

/** The RFC 8785 canonical JSON text of `value`; throws CanonicalizeError for anything that is not JSON. */
export function canonicalize(value: unknown): string {
  const out: string[] = []
  write(value, '$', 0, out)
  return out.join('')
}
