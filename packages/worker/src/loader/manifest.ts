/**
 * Builds the `StepManifest` (docs/protocol.md) of a validated step config: only the fields of the step's type,
 * schemas converted to JSON Schema. A schema that cannot be converted is reported with its config key.
 */
import { type JsonSchema, type StepConfig, type ToJsonSchemaOptions, toJsonSchema } from '@cfp/sdk'
import type { StepManifest } from '../frame-types.js'

export class ManifestError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message)
    this.name = 'ManifestError'
  }
}

type Convert = (schema: unknown, key: string, io: 'input' | 'output') => JsonSchema

/** A schema converter that reports failures as `ManifestError`s naming the key. */
export function schemaConverter(opts: Omit<ToJsonSchemaOptions, 'io'>): Convert {
  return (schema, key, io) => {
    try {
      return toJsonSchema(schema, { ...opts, io })
    } catch (err) {
      throw new ManifestError(key, (err as Error).message)
    }
  }
}

export function toManifest(config: StepConfig, file: string, convert: Convert): StepManifest {
  const m: StepManifest = { name: config.name, type: config.type, file }
  if (config.description !== undefined) m.description = config.description
  if (config.flows !== undefined) m.flows = [...config.flows]
  if (config.virtualEmits !== undefined) m.virtualEmits = [...config.virtualEmits]
  if (config.virtualSubscribes !== undefined) m.virtualSubscribes = [...config.virtualSubscribes]
  // Sent as written: the runtime checks it and refuses only this step, naming the field, when it is malformed.
  if (config.type !== 'noop' && config.slo !== undefined) m.slo = JSON.parse(JSON.stringify(config.slo)) as StepManifest['slo']
  switch (config.type) {
    case 'api': {
      m.path = config.path
      m.method = config.method
      m.emits = [...config.emits]
      if (config.bodySchema !== undefined) m.bodySchema = convert(config.bodySchema, 'bodySchema', 'input')
      if (config.responseSchema !== undefined) {
        m.responseSchema = {}
        for (const [status, schema] of Object.entries(config.responseSchema)) {
          m.responseSchema[status] = convert(schema, `responseSchema.${status}`, 'output')
        }
      }
      if (config.queryParams !== undefined) m.queryParams = config.queryParams.map((q) => ({ ...q }))
      if (config.webhook !== undefined) {
        // The secret's variable name stays in the worker: the runtime learns only how requests are signed.
        const { secret: _secret, ...signing } = config.webhook
        m.webhook = signing
      }
      break
    }
    case 'event':
      m.subscribes = [...config.subscribes]
      m.emits = [...config.emits]
      if (config.input !== undefined) m.input = convert(config.input, 'input', 'input')
      if (config.infrastructure !== undefined) m.infrastructure = JSON.parse(JSON.stringify(config.infrastructure)) as StepManifest['infrastructure']
      break
    case 'cron':
      m.cron = config.cron
      m.emits = [...config.emits]
      break
    case 'noop':
      break
  }
  return m
}
