/**
 * Strict validation of a step file's `config` (classic Motia API): `validateStepConfig(config, file)` returns the
 * normalized config, or every problem found, each naming the file and the config key.
 *
 * Motia's own rules are kept (strict keys, handler timeout 1-900 s, delay 0-900 s, visibility timeout above the
 * handler timeout, RAM 128-10240 MB); CFP adds checks Motia leaves to run time (HTTP method, path parameters,
 * cron expression, response status codes). Defaults are not filled in here: the runtime applies them.
 */
import { cronExpressionProblem } from './cron.js'
import { validateInfrastructure } from './config-infra.js'
import { checkKeys, type ConfigError, describeValue, isPlainObject, Problems, stringArray } from './config-util.js'
import type { StepConfig } from './types.js'

export type { ConfigError }

export type ValidateStepConfigResult = { ok: true; config: StepConfig } | { ok: false; errors: ConfigError[] }

export const STEP_TYPES = ['api', 'event', 'cron', 'noop'] as const
export const API_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const

const COMMON_KEYS = ['type', 'name', 'description', 'flows', 'virtualEmits', 'virtualSubscribes']
const KEYS: Record<(typeof STEP_TYPES)[number], string[]> = {
  api: [...COMMON_KEYS, 'path', 'method', 'emits', 'middleware', 'bodySchema', 'responseSchema', 'queryParams', 'includeFiles', 'webhook', 'slo'],
  event: [...COMMON_KEYS, 'subscribes', 'emits', 'input', 'includeFiles', 'infrastructure', 'slo'],
  cron: [...COMMON_KEYS, 'cron', 'emits', 'includeFiles', 'slo'],
  noop: COMMON_KEYS,
}

/** Validates `config` exported by step file `file` (a path used only in messages). */
export function validateStepConfig(config: unknown, file: string): ValidateStepConfigResult {
  const p = new Problems(file)
  if (!isPlainObject(config)) {
    p.errors.push({
      file,
      key: 'config',
      reason: `the exported config must be an object, got ${describeValue(config)}`,
      message: `${file}: config: the exported config must be an object, got ${describeValue(config)}`,
    })
    return { ok: false, errors: p.errors }
  }
  const type = config.type
  if (typeof type !== 'string' || !(STEP_TYPES as readonly string[]).includes(type)) {
    p.add(
      'type',
      `${type === undefined ? 'is missing' : `${describeValue(type)} is not a step type`}; use one of ${STEP_TYPES.map((t) => `'${t}'`).join(', ')}`,
    )
    return { ok: false, errors: p.errors }
  }
  const stepType = type as (typeof STEP_TYPES)[number]
  checkKeys(p, config, KEYS[stepType], `${stepType === 'api' || stepType === 'event' ? 'an' : 'a'} ${stepType} step config`)
  const out: Record<string, unknown> = { ...config }

  requireString(p, config, 'name')
  optional(config, 'description', () => requireString(p, config, 'description', true))
  optional(config, 'flows', () => stringArray(p, config.flows, 'flows'))
  optional(config, 'virtualSubscribes', () => stringArray(p, config.virtualSubscribes, 'virtualSubscribes'))
  optional(config, 'virtualEmits', () => emitList(p, config.virtualEmits, 'virtualEmits'))
  if (stepType === 'noop') {
    if (config.virtualEmits === undefined) p.add('virtualEmits', 'is required for noop steps (use [] for none)')
    if (config.virtualSubscribes === undefined) p.add('virtualSubscribes', 'is required for noop steps (use [] for none)')
  } else {
    if (config.emits === undefined) p.add('emits', `is required for ${stepType} steps (use [] to allow any topic)`)
    else emitList(p, config.emits, 'emits')
    optional(config, 'includeFiles', () => stringArray(p, config.includeFiles, 'includeFiles'))
  }

  if (stepType === 'api') checkApi(p, config, out)
  if (stepType === 'event') {
    if (config.subscribes === undefined) p.add('subscribes', 'is required for event steps: list the topics this step handles')
    else stringArray(p, config.subscribes, 'subscribes', true)
    checkSchema(p, config.input, 'input')
    if (config.input === null) delete out.input
    optional(config, 'infrastructure', () => validateInfrastructure(p, config.infrastructure))
  }
  if (stepType === 'cron') {
    if (typeof config.cron !== 'string') p.add('cron', `must be a cron expression string, got ${describeValue(config.cron)}`)
    else {
      const problem = cronExpressionProblem(config.cron)
      if (problem) p.add('cron', problem)
    }
  }
  return p.errors.length > 0 ? { ok: false, errors: p.errors } : { ok: true, config: out as unknown as StepConfig }
}

function checkApi(p: Problems, config: Record<string, unknown>, out: Record<string, unknown>): void {
  const { path, method } = config
  if (typeof path !== 'string') p.add('path', `must be a string such as '/todo/:id', got ${describeValue(path)}`)
  else {
    if (!path.startsWith('/')) p.add('path', `'${path}' must start with '/'`)
    const params = [...path.matchAll(/:([^/]*)/g)].map((m) => m[1] ?? '')
    const bad = params.find((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n))
    if (bad !== undefined) p.add('path', `'${path}' has an invalid path parameter ':${bad}' (use letters, digits and _)`)
    const dup = params.find((n, i) => params.indexOf(n) !== i)
    if (dup !== undefined) p.add('path', `'${path}' names the path parameter ':${dup}' twice`)
  }
  if (typeof method !== 'string' || !(API_METHODS as readonly string[]).includes(method.toUpperCase())) {
    p.add('method', `${describeValue(method)} is not an HTTP method; use one of ${API_METHODS.join(', ')}`)
  } else out.method = method.toUpperCase()
  optional(config, 'middleware', () => {
    if (!Array.isArray(config.middleware)) p.add('middleware', `must be an array of functions, got ${describeValue(config.middleware)}`)
    else
      config.middleware.forEach((m, i) => typeof m !== 'function' && p.add(`middleware[${i}]`, `must be a function (req, ctx, next), got ${describeValue(m)}`))
  })
  checkSchema(p, config.bodySchema, 'bodySchema')
  if (config.bodySchema === null) delete out.bodySchema
  optional(config, 'responseSchema', () => {
    if (!isPlainObject(config.responseSchema)) {
      p.add('responseSchema', `must map status codes to schemas, got ${describeValue(config.responseSchema)}`)
      return
    }
    for (const [status, schema] of Object.entries(config.responseSchema)) {
      const code = Number(status)
      if (!Number.isInteger(code) || code < 100 || code > 599) p.add(`responseSchema.${status}`, `'${status}' is not an HTTP status code (100-599)`)
      checkSchema(p, schema, `responseSchema.${status}`, true)
    }
  })
  optional(config, 'webhook', () => checkWebhook(p, config.webhook))
  optional(config, 'queryParams', () => {
    if (!Array.isArray(config.queryParams)) {
      p.add('queryParams', `must be an array of { name, description }, got ${describeValue(config.queryParams)}`)
      return
    }
    config.queryParams.forEach((q, i) => {
      if (!isPlainObject(q) || typeof q.name !== 'string' || q.name === '') p.add(`queryParams[${i}].name`, 'must be a non-empty string')
      else if (q.description !== undefined && typeof q.description !== 'string') p.add(`queryParams[${i}].description`, 'must be a string')
      if (isPlainObject(q)) checkKeys(p, q, ['name', 'description'], 'a query parameter', `queryParams[${i}].`)
    })
  })
}

const WEBHOOK_KEYS = ['secret', 'header', 'algorithm', 'encoding', 'prefix', 'timestampHeader', 'toleranceSeconds', 'replayWindowSeconds']
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** A signed-webhook declaration (CFP extension): see `WebhookConfig`. */
function checkWebhook(p: Problems, w: unknown): void {
  if (!isPlainObject(w)) {
    p.add('webhook', `must be { secret, header, … }, got ${describeValue(w)}`)
    return
  }
  checkKeys(p, w, WEBHOOK_KEYS, 'a webhook declaration', 'webhook.')
  if (typeof w.secret !== 'string' || !ENV_NAME.test(w.secret)) {
    p.add('webhook.secret', `must name the environment variable holding the secret (like STRIPE_WEBHOOK_SECRET), got ${describeValue(w.secret)}`)
  }
  if (typeof w.header !== 'string' || !HEADER_NAME.test(w.header)) p.add('webhook.header', `must be an HTTP header name, got ${describeValue(w.header)}`)
  if (w.algorithm !== undefined && !['sha256', 'sha1', 'sha512'].includes(w.algorithm as string)) {
    p.add('webhook.algorithm', `must be sha256, sha1 or sha512, got ${describeValue(w.algorithm)}`)
  }
  if (w.encoding !== undefined && !['hex', 'base64'].includes(w.encoding as string))
    p.add('webhook.encoding', `must be hex or base64, got ${describeValue(w.encoding)}`)
  if (w.prefix !== undefined && typeof w.prefix !== 'string') p.add('webhook.prefix', `must be a string, got ${describeValue(w.prefix)}`)
  if (w.timestampHeader !== undefined && (typeof w.timestampHeader !== 'string' || !HEADER_NAME.test(w.timestampHeader))) {
    p.add('webhook.timestampHeader', `must be an HTTP header name, got ${describeValue(w.timestampHeader)}`)
  }
  if (w.toleranceSeconds !== undefined && !(Number.isInteger(w.toleranceSeconds) && (w.toleranceSeconds as number) >= 1)) {
    p.add('webhook.toleranceSeconds', `must be a whole number of seconds ≥ 1, got ${describeValue(w.toleranceSeconds)}`)
  }
  const window = w.replayWindowSeconds
  if (window !== undefined && !(Number.isInteger(window) && (window as number) >= 0 && (window as number) <= 604_800)) {
    p.add('webhook.replayWindowSeconds', `must be a whole number of seconds from 0 (off) to 604800 (7 days), got ${describeValue(window)}`)
  }
}

function checkSchema(p: Problems, schema: unknown, key: string, required = false): void {
  if (schema === undefined || schema === null) {
    if (required) p.add(key, 'must be a zod schema or a JSON Schema object')
    return
  }
  if (typeof schema !== 'object' && typeof schema !== 'boolean') {
    p.add(key, `must be a zod schema or a JSON Schema object, got ${describeValue(schema)}`)
  }
}

function optional(config: Record<string, unknown>, key: string, check: () => void): void {
  if (config[key] !== undefined) check()
}

function requireString(p: Problems, config: Record<string, unknown>, key: string, allowEmpty = false): void {
  const v = config[key]
  if (typeof v !== 'string' || (!allowEmpty && v.trim() === '')) {
    p.add(key, v === undefined ? 'is required (a non-empty string)' : `must be a ${allowEmpty ? '' : 'non-empty '}string, got ${describeValue(v)}`)
  }
}

function emitList(p: Problems, v: unknown, key: string): void {
  if (!Array.isArray(v)) {
    p.add(key, `must be an array of topics (strings or { topic, label?, conditional? }), got ${describeValue(v)}`)
    return
  }
  v.forEach((e, i) => {
    if (typeof e === 'string') {
      if (e === '') p.add(`${key}[${i}]`, 'must be a non-empty topic')
      return
    }
    if (!isPlainObject(e)) {
      p.add(`${key}[${i}]`, `must be a topic string or { topic, label?, conditional? }, got ${describeValue(e)}`)
      return
    }
    if (typeof e.topic !== 'string' || e.topic === '') p.add(`${key}[${i}].topic`, `must be a non-empty string, got ${describeValue(e.topic)}`)
    if (e.label !== undefined && typeof e.label !== 'string') p.add(`${key}[${i}].label`, `must be a string, got ${describeValue(e.label)}`)
    if (e.conditional !== undefined && typeof e.conditional !== 'boolean')
      p.add(`${key}[${i}].conditional`, `must be a boolean, got ${describeValue(e.conditional)}`)
    checkKeys(p, e, ['topic', 'label', 'conditional'], 'an emit entry', `${key}[${i}].`)
  })
}
