import { describe, expect, it } from 'vitest'
import { validateStepConfig } from './config.js'

const FILE = 'steps/thing.step.ts'
const api = { type: 'api', name: 'A', path: '/todo/:id', method: 'POST', emits: ['t'] }
const event = { type: 'event', name: 'E', subscribes: ['t'], emits: [] }

/** Validates and returns the error messages (the test fails if the config is accepted). */
function errorsOf(config: unknown): { key: string; message: string }[] {
  const r = validateStepConfig(config, FILE)
  if (r.ok) throw new Error('expected the config to be rejected')
  for (const e of r.errors) {
    expect(e.message).toBe(e.key === 'config' ? `${FILE}: config: ${e.reason}` : `${FILE}: config.${e.key}: ${e.reason}`)
  }
  return r.errors
}

function expectError(config: unknown, key: string, text: RegExp): void {
  const errors = errorsOf(config)
  const hit = errors.find((e) => e.key === key)
  expect(hit, `no error for key ${key}; got ${JSON.stringify(errors)}`).toBeDefined()
  expect(hit?.message).toContain(FILE)
  expect(hit?.message).toMatch(text)
}

describe('validateStepConfig', () => {
  it('accepts the four classic step types and normalizes the method', () => {
    const r = validateStepConfig({ ...api, method: 'post', emits: ['a', { topic: 'b', label: 'B', conditional: true }] }, FILE)
    expect(r.ok && r.config).toMatchObject({ method: 'POST' })
    expect(validateStepConfig(event, FILE).ok).toBe(true)
    expect(validateStepConfig({ type: 'cron', name: 'C', cron: '*/5 * * * *', emits: [] }, FILE).ok).toBe(true)
    expect(validateStepConfig({ type: 'cron', name: 'C6', cron: '0 */5 * * * *', emits: [] }, FILE).ok).toBe(true)
    expect(validateStepConfig({ type: 'noop', name: 'N', virtualEmits: [], virtualSubscribes: [] }, FILE).ok).toBe(true)
  })

  it('accepts a full event infrastructure block and drops input: null', () => {
    const r = validateStepConfig(
      {
        ...event,
        input: null,
        infrastructure: {
          handler: { ram: 1024, timeout: 30 },
          queue: { type: 'fifo', maxRetries: 3, visibilityTimeout: 31, delaySeconds: 900, concurrency: 2 },
        },
      },
      FILE,
    )
    expect(r.ok).toBe(true)
    expect(r.ok && 'input' in r.config).toBe(false)
  })

  it('rejects an unknown key, naming it and suggesting the close one', () => {
    expectError({ ...event, subscribe: ['x'] }, 'subscribe', /unknown key 'subscribe'.*did you mean 'subscribes'/)
    expectError({ ...api, triggers: [] }, 'triggers', /unknown key 'triggers' in an api step config/)
    expectError({ ...api, emits: [{ topic: 't', lable: 'x' }] }, 'emits[0].lable', /unknown key 'lable'/)
    expectError({ ...event, infrastructure: { queue: { retries: 1 } } }, 'infrastructure.queue.retries', /unknown key/)
  })

  it('accepts a signed-webhook declaration on API steps and names each bad field', () => {
    const webhook = { secret: 'GITHUB_WEBHOOK_SECRET', header: 'x-hub-signature-256', prefix: 'sha256=' }
    expect(validateStepConfig({ ...api, webhook }, FILE).ok).toBe(true)
    expectError({ ...api, webhook: 'yes' }, 'webhook', /must be \{ secret, header/)
    expectError({ ...api, webhook: { ...webhook, secret: 'not a name' } }, 'webhook.secret', /environment variable/)
    expectError({ ...api, webhook: { ...webhook, header: 'bad header' } }, 'webhook.header', /header name/)
    expectError({ ...api, webhook: { ...webhook, algorithm: 'md5' } }, 'webhook.algorithm', /sha256, sha1 or sha512/)
    expectError({ ...api, webhook: { ...webhook, toleranceSeconds: 0 } }, 'webhook.toleranceSeconds', /≥ 1/)
    expectError({ ...api, webhook: { ...webhook, secrett: 'x' } }, 'webhook.secrett', /./)
    expectError({ ...event, webhook }, 'webhook', /./)
  })

  it('rejects a bad method', () => {
    expectError({ ...api, method: 'FETCH' }, 'method', /'FETCH' is not an HTTP method; use one of GET, POST/)
  })

  it('rejects a handler timeout outside 1-900 s', () => {
    expectError({ ...event, infrastructure: { handler: { timeout: 0 } } }, 'infrastructure.handler.timeout', /between 1 and 900/)
    expectError({ ...event, infrastructure: { handler: { timeout: 901 } } }, 'infrastructure.handler.timeout', /901 s is out of range/)
  })

  it('rejects durations that are not whole seconds (the runtime stores them as integers)', () => {
    expectError({ ...event, infrastructure: { handler: { timeout: 1.5 } } }, 'infrastructure.handler.timeout', /whole number of seconds, got 1.5/)
    expectError({ ...event, infrastructure: { queue: { visibilityTimeout: 30.5 } } }, 'infrastructure.queue.visibilityTimeout', /whole number/)
  })

  it('rejects delaySeconds outside 0-900', () => {
    expectError({ ...event, infrastructure: { queue: { delaySeconds: -1 } } }, 'infrastructure.queue.delaySeconds', /between 0 and 900/)
    expectError({ ...event, infrastructure: { queue: { delaySeconds: 901 } } }, 'infrastructure.queue.delaySeconds', /out of range/)
  })

  it('rejects visibilityTimeout <= handler.timeout', () => {
    const infrastructure = { handler: { timeout: 60 }, queue: { visibilityTimeout: 60 } }
    expectError({ ...event, infrastructure }, 'infrastructure.queue.visibilityTimeout', /greater than infrastructure.handler.timeout \(60 s\)/)
  })

  it('rejects a missing subscribes and a missing emits', () => {
    expectError({ type: 'event', name: 'E', emits: [] }, 'subscribes', /is required for event steps/)
    expectError({ type: 'event', name: 'E', subscribes: ['a'] }, 'emits', /is required/)
  })

  it('rejects a cron expression with the wrong number of fields or a bad field', () => {
    expectError({ type: 'cron', name: 'C', cron: '* * * *', emits: [] }, 'cron', /has 4 fields; expected 5 .* or 6/)
    expectError({ type: 'cron', name: 'C', cron: '* * * * * * *', emits: [] }, 'cron', /has 7 fields/)
    expectError({ type: 'cron', name: 'C', cron: '*/5 * * * $', emits: [] }, 'cron', /day of week field '\$'/)
  })

  it('rejects bad emits entries, types, names, paths, schemas and queue types', () => {
    expectError({ ...api, emits: [42] }, 'emits[0]', /topic string or \{ topic/)
    expectError({ ...api, emits: [{ label: 'x' }] }, 'emits[0].topic', /non-empty string/)
    expectError({ ...api, type: 'webhook' }, 'type', /'webhook' is not a step type/)
    expectError({ ...api, name: '' }, 'name', /non-empty string/)
    expectError({ ...api, path: 'todo' }, 'path', /must start with '\/'/)
    expectError({ ...api, path: '/a/:id/:id' }, 'path', /twice/)
    expectError({ ...api, bodySchema: 'x' }, 'bodySchema', /zod schema or a JSON Schema/)
    expectError({ ...api, responseSchema: { 999: {} } }, 'responseSchema.999', /not an HTTP status code/)
    expectError({ ...api, middleware: [() => undefined, 'x'] }, 'middleware[1]', /must be a function/)
    expectError({ ...event, infrastructure: { queue: { type: 'lifo' } } }, 'infrastructure.queue.type', /'standard' or 'fifo'/)
    expectError({ type: 'noop', name: 'N', virtualEmits: [] }, 'virtualSubscribes', /required for noop/)
    expect(errorsOf('nope')[0]?.key).toBe('config')
  })

  it('reports every problem at once', () => {
    expect(
      errorsOf({ ...api, method: 'FETCH', path: 'x', extra: 1 })
        .map((e) => e.key)
        .sort(),
    ).toEqual(['extra', 'method', 'path'])
  })
})
