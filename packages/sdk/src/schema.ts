/**
 * `toJsonSchema(schema)`: turns a zod 3 schema, a zod 4 schema (classic or mini), any Standard-Schema with a
 * JSON Schema view, or a plain JSON Schema object into a plain JSON Schema object (the form manifests carry).
 *
 * zod 4 is recognised by `_zod`, zod 3 by `_def` (zod 4 classic has both, so `_zod` is checked first). Converters are
 * loaded lazily with `require`, so a project that never uses zod 3 does not need `zod-to-json-schema`'s peer.
 */
import { createRequire } from 'node:module'
import type { JsonSchema } from './types.js'

const require = createRequire(import.meta.url)

export type SchemaIo = 'input' | 'output'

/** zod 4's `toJSONSchema(schema, params)`, e.g. the project's own `z.toJSONSchema`. */
export type Zod4ToJsonSchema = (schema: never, params?: Record<string, unknown>) => unknown

export interface ToJsonSchemaOptions {
  /** Which side of transforms/pipes to describe: request bodies and inputs are `input` (default). */
  io?: SchemaIo
  /** The project's zod 4 `toJSONSchema`, used for zod 4 schemas that have no `.toJSONSchema()` method. */
  zod4ToJsonSchema?: Zod4ToJsonSchema
}

export class SchemaConversionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SchemaConversionError'
  }
}

export const isZod4Schema = (s: unknown): boolean => typeof s === 'object' && s !== null && '_zod' in s
export const isZod3Schema = (s: unknown): boolean => typeof s === 'object' && s !== null && '_def' in s && !('_zod' in s)

/** Converts `schema` into JSON Schema; throws a `SchemaConversionError` saying why it cannot. */
export function toJsonSchema(schema: unknown, options: ToJsonSchemaOptions = {}): JsonSchema {
  const io = options.io ?? 'input'
  let out: unknown
  try {
    if (isZod4Schema(schema)) out = zod4ToJson(schema as Record<string, unknown>, io, options.zod4ToJsonSchema)
    else if (isZod3Schema(schema)) out = zod3ToJson(schema, io)
    else if (hasStandardJsonSchema(schema)) out = schema['~standard'].jsonSchema[io]({ target: 'draft-2020-12' })
    else out = plainJsonSchema(schema)
  } catch (err) {
    if (err instanceof SchemaConversionError) throw err
    throw new SchemaConversionError(`cannot convert schema to JSON Schema: ${(err as Error).message}`, { cause: err })
  }
  if (typeof out !== 'object' || out === null || Array.isArray(out)) {
    throw new SchemaConversionError('schema conversion did not produce a JSON Schema object')
  }
  const { $schema: _ignored, ...rest } = out as JsonSchema
  return rest
}

function zod4ToJson(schema: Record<string, unknown>, io: SchemaIo, fromProject?: Zod4ToJsonSchema): unknown {
  const params = { io, unrepresentable: 'any', target: 'draft-2020-12' }
  if (typeof schema.toJSONSchema === 'function') {
    return (schema.toJSONSchema as (p: unknown) => unknown).call(schema, params)
  }
  if (fromProject) return fromProject(schema as never, params)
  let core: { toJSONSchema?: Zod4ToJsonSchema }
  try {
    core = require('zod/v4/core') as { toJSONSchema?: Zod4ToJsonSchema }
  } catch (err) {
    throw new SchemaConversionError('a zod 4 schema was found but zod 4 is not installed where @cfp/sdk can load it; install zod (>= 3.25) in the project', {
      cause: err,
    })
  }
  if (typeof core.toJSONSchema !== 'function') throw new SchemaConversionError('zod/v4/core has no toJSONSchema')
  return core.toJSONSchema(schema as never, params)
}

function zod3ToJson(schema: unknown, io: SchemaIo): unknown {
  let mod: { zodToJsonSchema: (s: unknown, o: Record<string, unknown>) => unknown }
  try {
    mod = require('zod-to-json-schema') as typeof mod
  } catch (err) {
    throw new SchemaConversionError('a zod 3 schema was found but zod-to-json-schema could not be loaded (it needs zod >= 3.25 next to @cfp/sdk)', {
      cause: err,
    })
  }
  return mod.zodToJsonSchema(schema, { target: 'jsonSchema7', $refStrategy: 'root', pipeStrategy: io })
}

type StandardJsonSchema = { '~standard': { jsonSchema: Record<SchemaIo, (o: { target: string }) => unknown> } }

function hasStandardJsonSchema(s: unknown): s is StandardJsonSchema {
  const std = typeof s === 'object' && s !== null ? (s as Record<string, unknown>)['~standard'] : undefined
  const js = typeof std === 'object' && std !== null ? (std as Record<string, unknown>).jsonSchema : undefined
  return typeof js === 'object' && js !== null && typeof (js as Record<string, unknown>).input === 'function'
}

function plainJsonSchema(schema: unknown): unknown {
  if (typeof schema === 'boolean') return schema ? {} : { not: {} }
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new SchemaConversionError(
      `expected a zod schema or a JSON Schema object, got ${schema === null ? 'null' : Array.isArray(schema) ? 'an array' : typeof schema}`,
    )
  }
  try {
    return JSON.parse(JSON.stringify(schema)) as unknown
  } catch (err) {
    throw new SchemaConversionError(`JSON Schema object is not JSON-serialisable: ${(err as Error).message}`)
  }
}
