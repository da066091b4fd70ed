/**
 * JSON Schema → TypeScript type text, for `cfp generate-types`.
 *
 * Covers what zod (v3 via zod-to-json-schema, v4 via `z.toJSONSchema`) and hand-written step schemas produce:
 * objects (required vs optional properties, `additionalProperties`, records), arrays and tuples (`items`,
 * `prefixItems`), `enum`, `const`, `anyOf`/`oneOf` (unions), `allOf` (intersections), `type` lists, OpenAPI
 * `nullable`, local `$ref`s (`#`, `#/$defs/…`, `#/definitions/…`, cycles become `unknown`), boolean schemas,
 * and `{ not: {} }` (zod's `undefined`). Output is a single line in the style of Motia's generated types:
 * `{ name: string; tags?: Array<string> }`.
 *
 * @example
 * jsonSchemaToTs({ type: 'object', properties: { id: { type: 'string' } }, required: ['id'] })
 * // → '{ id: string }'
 */

export type JsonSchema = boolean | { [keyword: string]: unknown }

type Obj = { [keyword: string]: unknown }

/** Precedence of the rendered text, so unions inside intersections get parentheses. */
type Kind = 'atom' | 'union' | 'intersection'

interface Rendered {
  text: string
  kind: Kind
}

const atom = (text: string): Rendered => ({ text, kind: 'atom' })

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** A TypeScript string literal in single quotes. */
export function tsString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`
}

/** A property key: bare when it is an identifier, quoted otherwise. */
export function tsKey(key: string): string {
  return IDENTIFIER.test(key) ? key : tsString(key)
}

function literal(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return tsString(value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return 'unknown'
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function kindOf(text: string): Kind {
  if (splitTopLevel(text, '|').length > 1) return 'union'
  if (splitTopLevel(text, '&').length > 1) return 'intersection'
  return 'atom'
}

function union(parts: Rendered[]): Rendered {
  const texts: string[] = []
  for (const part of parts) {
    // a nested union needs no parentheses inside a union; flatten and drop duplicates
    const pieces = part.kind === 'union' ? splitTopLevel(part.text, '|') : [part.text]
    for (const piece of pieces) if (!texts.includes(piece)) texts.push(piece)
  }
  if (texts.includes('unknown')) return atom('unknown')
  const kept = texts.length > 1 ? texts.filter((t) => t !== 'never') : texts
  if (kept.length === 0) return atom('never')
  const text = kept.join(' | ')
  return { text, kind: kindOf(text) }
}

function intersection(parts: Rendered[]): Rendered {
  const kept: Rendered[] = []
  for (const part of parts) {
    if (part.text === 'never') return atom('never')
    if (part.text !== 'unknown' && !kept.some((k) => k.text === part.text)) kept.push(part)
  }
  if (kept.length === 0) return atom('unknown')
  if (kept.length === 1) return kept[0] as Rendered
  return { text: kept.map((p) => (p.kind === 'union' ? `(${p.text})` : p.text)).join(' & '), kind: 'intersection' }
}

/** Splits `a | { b: c | d } | e` at top-level separators only. */
function splitTopLevel(text: string, separator: string): string[] {
  const out: string[] = []
  let depth = 0
  let quote: string | undefined
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (quote) {
      if (ch === '\\') i++
      else if (ch === quote) quote = undefined
      continue
    }
    if (ch === "'" || ch === '"') quote = ch
    else if (ch === '{' || ch === '(' || ch === '<' || ch === '[') depth++
    else if (ch === '}' || ch === ')' || ch === '>' || ch === ']') depth--
    else if (depth === 0 && ch === separator) {
      out.push(text.slice(start, i).trim())
      start = i + 1
    }
  }
  out.push(text.slice(start).trim())
  return out
}

class Converter {
  private readonly resolving: Obj[] = []

  constructor(private readonly root: JsonSchema) {}

  convert(schema: unknown): Rendered {
    if (schema === undefined || schema === null || schema === true) return atom('unknown')
    if (schema === false) return atom('never')
    if (!isObj(schema)) return atom('unknown')
    if (this.resolving.includes(schema)) return atom('unknown') // recursive schema
    this.resolving.push(schema)
    try {
      return this.convertObject(schema)
    } finally {
      this.resolving.pop()
    }
  }

  private convertObject(schema: Obj): Rendered {
    const parts: Rendered[] = []
    if (typeof schema.$ref === 'string') parts.push(this.ref(schema.$ref))

    if ('const' in schema) {
      parts.push(atom(literal(schema.const)))
    } else if (Array.isArray(schema.enum)) {
      parts.push(union(schema.enum.map((v) => atom(literal(v)))))
    } else if (schema.type !== undefined || hasStructuralKeywords(schema)) {
      parts.push(this.byType(schema))
    }

    for (const key of ['anyOf', 'oneOf'] as const) {
      const options = schema[key]
      if (Array.isArray(options) && options.length > 0) parts.push(union(options.map((o) => this.convert(o))))
    }
    if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
      parts.push(intersection(schema.allOf.map((s) => this.convert(s))))
    }
    if (parts.length === 0 && isObj(schema.not)) {
      // zod's z.undefined() / z.never() become { not: {} }
      return atom('undefined')
    }

    let result = parts.length === 0 ? atom('unknown') : parts.length === 1 ? (parts[0] as Rendered) : intersection(parts)
    if (schema.nullable === true && result.text !== 'unknown') result = union([result, atom('null')])
    return result
  }

  private ref(ref: string): Rendered {
    const target = resolvePointer(this.root, ref)
    return target === undefined ? atom('unknown') : this.convert(target)
  }

  private byType(schema: Obj): Rendered {
    const type = schema.type
    if (Array.isArray(type)) {
      return union(type.map((t) => this.single(schema, typeof t === 'string' ? t : undefined)))
    }
    return this.single(schema, typeof type === 'string' ? type : inferType(schema))
  }

  private single(schema: Obj, type: string | undefined): Rendered {
    switch (type) {
      case 'string':
        return atom(schema.format === 'binary' ? 'Buffer' : 'string')
      case 'number':
      case 'integer':
        return atom('number')
      case 'boolean':
        return atom('boolean')
      case 'null':
        return atom('null')
      case 'array':
        return this.array(schema)
      case 'object':
        return this.object(schema)
      default:
        return atom('unknown')
    }
  }

  private array(schema: Obj): Rendered {
    const tuple = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : undefined
    if (tuple) {
      const members = tuple.map((s) => this.convert(s).text)
      const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items
      if (rest !== undefined && rest !== false) members.push(`...Array<${this.convert(rest).text}>`)
      return atom(`[${members.join(', ')}]`)
    }
    return atom(`Array<${this.convert(schema.items).text}>`)
  }

  private object(schema: Obj): Rendered {
    const properties = isObj(schema.properties) ? schema.properties : {}
    const required = new Set(Array.isArray(schema.required) ? schema.required.filter((k) => typeof k === 'string') : [])
    const additional = schema.additionalProperties
    const entries = Object.entries(properties)
    if (entries.length === 0) {
      if (additional === false) return atom('Record<string, never>')
      if (isObj(additional) && Object.keys(additional).length > 0) {
        return atom(`Record<string, ${this.convert(additional).text}>`)
      }
      return atom('Record<string, unknown>')
    }
    const members = entries.map(([key, prop]) => `${tsKey(key)}${required.has(key) ? '' : '?'}: ${this.convert(prop).text}`)
    // extra keys allowed: an index signature of `unknown` stays compatible with every declared property
    if (additional === true || isObj(additional)) members.push('[key: string]: unknown')
    return atom(`{ ${members.join('; ')} }`)
  }
}

function hasStructuralKeywords(schema: Obj): boolean {
  return inferType(schema) !== undefined
}

/** The implied type of a schema without `type` (e.g. only `properties`). */
function inferType(schema: Obj): string | undefined {
  if ('properties' in schema || 'additionalProperties' in schema || 'required' in schema) return 'object'
  if ('items' in schema || 'prefixItems' in schema) return 'array'
  return undefined
}

/** Resolves a local JSON pointer (`#`, `#/$defs/A`, `#/definitions/A~1B`). Remote refs resolve to undefined. */
function resolvePointer(root: JsonSchema, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined
  const path = ref.slice(1)
  if (path === '' || path === '/') return root
  let node: unknown = root
  for (const raw of path.replace(/^\//, '').split('/')) {
    const segment = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~')
    if (!isObj(node) && !Array.isArray(node)) return undefined
    node = (node as Record<string, unknown>)[segment]
    if (node === undefined) return undefined
  }
  return node
}

/** Converts a JSON Schema to TypeScript type text. Missing or unrecognised schemas become `unknown`. */
export function jsonSchemaToTs(schema: unknown): string {
  const root = schema === undefined || schema === null ? true : (schema as JsonSchema)
  return new Converter(root).convert(schema).text
}

/** Intersection of several type texts (already converted), with parentheses where needed. */
export function intersectTypes(types: readonly string[]): string {
  return intersection(types.map((text) => ({ text, kind: kindOf(text) }))).text
}
