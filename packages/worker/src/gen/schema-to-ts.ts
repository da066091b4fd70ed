/**
 * Generates the worker's protocol types (`../protocol-types.gen.ts`) from `protocol/schema/worker-frames.schema.json`,
 * so the contract is written once, in the schema (the Rust side checks its serde types against the same schema).
 *
 * A small generator for the JSON Schema this protocol uses, not for every schema: `$ref` to `#/$defs/…`, `const`,
 * `enum`, `oneOf`/`anyOf`, `type` (one or a list), `properties`/`required`, `additionalProperties`, `items`, and
 * `allOf` of `if {properties: {d: {const}}} then {properties: {p: …}}`, which becomes a union discriminated by `d`.
 * A `oneOf` of `{required: […]}` branches on an object (which fields come together) leaves its type as it is.
 * Keywords that do not change the type (`minLength`, `pattern`, `minimum`, …) are left to the validators. Anything
 * else throws, so the schema cannot silently grow a construct the generated types ignore.
 *
 * Run `npm run gen:types -w packages/worker` after changing the schema; `gen/schema-to-ts.test.ts` fails when the
 * committed file is stale.
 */

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

type Schema = boolean | { [key: string]: unknown }
type Obj = { [key: string]: unknown }

/** Keywords that only constrain values further; the TypeScript type stays the same. */
const VALUE_ONLY = new Set([
  'description',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'contentEncoding',
  'propertyNames',
  'maxItems',
  'maxProperties',
])
const TYPE_KEYWORDS = new Set(['$ref', 'const', 'enum', 'oneOf', 'anyOf', 'type', 'properties', 'required', 'additionalProperties', 'items', 'allOf'])

const pascal = (name: string) =>
  name
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')

/** The TypeScript name of a definition: frames (the branches of the top-level oneOf) get a `Frame` suffix. */
function nameOf(def: string, frames: Set<string>): string {
  return frames.has(def) ? `${pascal(def)}Frame` : def
}

const isObj = (s: unknown): s is Obj => typeof s === 'object' && s !== null && !Array.isArray(s)
const key = (k: string) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k))
const doc = (s: Obj, indent: string) => (typeof s.description === 'string' ? `${indent}/** ${s.description.replace(/\*\//g, '* /')} */\n` : '')

function refName(ref: string, frames: Set<string>): string {
  const m = /^#\/\$defs\/(.+)$/.exec(ref)
  if (!m) throw new Error(`unsupported $ref ${ref}`)
  return nameOf(m[1] as string, frames)
}

function typeOf(s: Schema, frames: Set<string>, indent: string): string {
  if (s === true) return 'unknown'
  if (s === false) return 'never'
  for (const k of Object.keys(s)) {
    if (!VALUE_ONLY.has(k) && !TYPE_KEYWORDS.has(k) && k !== 'if' && k !== 'then') throw new Error(`unsupported keyword ${k}`)
  }
  if (typeof s.$ref === 'string') return refName(s.$ref, frames)
  if ('const' in s) return JSON.stringify(s.const)
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ')
  const union = (s.oneOf ?? s.anyOf) as Schema[] | undefined
  // `oneOf` of `{required: […]}` branches only says which fields come together: the type stays the object's.
  if (union?.every((b) => isObj(b) && Object.keys(b).every((k) => k === 'required')) && s.type === 'object') {
    return typeOf({ ...s, oneOf: undefined, anyOf: undefined }, frames, indent)
  }
  if (union) return union.map((b) => paren(typeOf(b, frames, indent))).join(' | ')
  if (Array.isArray(s.type)) return s.type.map((t) => typeOf({ ...s, type: t }, frames, indent)).join(' | ')
  switch (s.type) {
    case 'string':
      return 'string'
    case 'integer':
    case 'number':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'null':
      return 'null'
    case 'array':
      return `${paren(typeOf((s.items as Schema | undefined) ?? true, frames, indent))}[]`
    case 'object':
      return objectType(s, frames, indent)
    case undefined:
      if (Object.keys(s).every((k) => VALUE_ONLY.has(k))) return 'unknown'
  }
  throw new Error(`unsupported schema ${JSON.stringify(s)}`)
}

const paren = (t: string) => (t.includes(' | ') || t.includes(' & ') ? `(${t})` : t)

function objectType(s: Obj, frames: Set<string>, indent: string, omit: string[] = []): string {
  const props = isObj(s.properties) ? (s.properties as Record<string, Schema>) : undefined
  const required = new Set((s.required as string[] | undefined) ?? [])
  const extra = s.additionalProperties as Schema | undefined
  if (!props) return `Record<string, ${extra === undefined || extra === true ? 'unknown' : typeOf(extra, frames, indent)}>`
  const inner = `${indent}  `
  const fields = Object.entries(props)
    .filter(([k]) => !omit.includes(k))
    .map(([k, p]) => `${isObj(p) ? doc(p, inner) : ''}${inner}${key(k)}${required.has(k) ? '' : '?'}: ${typeOf(p, frames, inner)}`)
  return `{\n${fields.join('\n')}\n${indent}}`
}

/** `allOf: [{if: {properties: {d: {const: c}}}, then: {properties: {p: T}}}, …]` → `(Base & {d: c; p: T}) | …`. */
function discriminated(s: Obj, frames: Set<string>): string | undefined {
  const branches = (s.allOf as Obj[]).map((b) => {
    const cond = Object.entries((b.if as Obj).properties as Obj)
    if (cond.length !== 1) throw new Error('an if of allOf must test one property')
    const [d, test] = cond[0] as [string, Obj]
    if (!('const' in test)) throw new Error('an if of allOf must test a const')
    const then = b.then as Obj
    const overrides = isObj(then.properties) ? Object.entries(then.properties as Record<string, Schema>) : []
    return { d, value: test.const, overrides, onlyRequired: overrides.length === 0 }
  })
  // `then: {required: […]}` only tightens which fields must be present: the type stays the base object.
  if (branches.every((b) => b.onlyRequired)) return undefined
  const omit = [...new Set(branches.flatMap((b) => [b.d, ...b.overrides.map(([k]) => k)]))]
  const base = objectType(s, frames, '', omit)
  return branches
    .map((b) => `(${base} & { ${key(b.d)}: ${JSON.stringify(b.value)}; ${b.overrides.map(([k, t]) => `${key(k)}: ${typeOf(t, frames, '')}`).join('; ')} })`)
    .join('\n  | ')
}

function direction(def: Obj): 'worker' | 'runtime' | 'both' {
  const d = typeof def.description === 'string' ? def.description : ''
  if (d.startsWith('worker -> runtime')) return 'worker'
  if (d.startsWith('runtime -> worker')) return 'runtime'
  if (d.startsWith('both directions')) return 'both'
  throw new Error(`frame description must start with its direction: ${d}`)
}

/** The TypeScript source of the protocol's types, before formatting. */
export function schemaToTs(schema: Obj): string {
  const defs = schema.$defs as Record<string, Obj>
  const frames = (schema.oneOf as Obj[]).map((b) => (b.$ref as string).replace('#/$defs/', ''))
  const frameSet = new Set(frames)
  const out: string[] = [
    '// Generated from protocol/schema/worker-frames.schema.json by src/gen/schema-to-ts.ts: do not edit.',
    '// Run `npm run gen:types -w packages/worker` after changing the schema.',
    '',
  ]
  for (const [def, s] of Object.entries(defs)) {
    const name = nameOf(def, frameSet)
    const body = Array.isArray(s.allOf) ? (discriminated(s, frameSet) ?? typeOf({ ...s, allOf: undefined }, frameSet, '')) : typeOf(s, frameSet, '')
    out.push(`${doc(s, '')}export type ${name} = ${body}`, '')
  }
  const toWorker = frames.filter((f) => direction(defs[f] as Obj) !== 'worker').map((f) => nameOf(f, frameSet))
  const toRuntime = frames.filter((f) => direction(defs[f] as Obj) !== 'runtime').map((f) => nameOf(f, frameSet))
  out.push('/** Every frame a worker sends. */', `export type WorkerFrame = ${toRuntime.join(' | ')}`, '')
  out.push('/** Every frame the runtime sends. */', `export type RuntimeFrame = ${toWorker.join(' | ')}`, '')
  return out.join('\n')
}

/** Formats generated source as the repository's biome configuration does (the committed file passes `biome ci`). */
export function formatTs(source: string, repoRoot: string): string {
  const r = spawnSync(`${repoRoot}node_modules/.bin/biome`, ['format', '--stdin-file-path=packages/worker/src/protocol-types.gen.ts'], {
    cwd: repoRoot,
    input: source,
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(`biome format failed: ${r.stderr}`)
  return r.stdout
}

const here = fileURLToPath(new URL('.', import.meta.url))
/** The repository root (this file is at packages/worker/src/gen/). */
export const repoRoot = resolve(here, '../../../..') + '/'
export const schemaPath = `${repoRoot}protocol/schema/worker-frames.schema.json`
export const generatedPath = `${repoRoot}packages/worker/src/protocol-types.gen.ts`

/** The generated file as it should be committed. */
export function generate(): string {
  return formatTs(schemaToTs(JSON.parse(readFileSync(schemaPath, 'utf8')) as Obj), repoRoot)
}
