import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import Ajv2020 from 'ajv/dist/2020.js'
import { describe, expect, it } from 'vitest'
import { FrameError, parseFrame, validateRuntimeFrame, validateWorkerFrame } from './frames.js'

const root = fileURLToPath(new URL('../../../protocol/', import.meta.url))
const schema = JSON.parse(readFileSync(`${root}schema/worker-frames.schema.json`, 'utf8')) as object
type Vector = { name: string; direction: 'worker_to_runtime' | 'runtime_to_worker' | 'both'; frame: unknown; why?: string }
const vectors = JSON.parse(readFileSync(`${root}vectors/worker-frames.json`, 'utf8')) as { valid: Vector[]; invalid: Vector[] }

const ajv = new Ajv2020.default({ strictSchema: true, strictTypes: false, strictRequired: false, allErrors: true })
const schemaValid = ajv.compile(schema)

/** The TypeScript validators that apply to a vector's direction. */
const parsersFor = (v: Vector) => [
  ...(v.direction !== 'worker_to_runtime' ? [validateRuntimeFrame] : []),
  ...(v.direction !== 'runtime_to_worker' ? [validateWorkerFrame] : []),
]

describe('worker protocol vectors', () => {
  it('covers every frame type in both directions', () => {
    const types = new Set(vectors.valid.map((v) => (v.frame as { type: string }).type))
    for (const t of [
      'hello',
      'register',
      'result',
      'log',
      'call',
      'access_result',
      'source_result',
      'welcome',
      'registered',
      'invoke',
      'reply',
      'cancel',
      'access',
      'source',
      'error',
      'ping',
      'pong',
      'drain',
    ]) {
      expect(types.has(t), `no valid vector for ${t}`).toBe(true)
    }
    expect(vectors.invalid.length).toBeGreaterThan(10)
  })

  describe.each(vectors.valid)('valid: $name', (v) => {
    it('matches the JSON Schema', () => {
      expect(schemaValid(v.frame), JSON.stringify(schemaValid.errors)).toBe(true)
    })
    it('is accepted by the TypeScript parser', () => {
      for (const parse of parsersFor(v)) expect(parse(v.frame)).toEqual(v.frame)
      if (v.direction !== 'worker_to_runtime') expect(parseFrame(JSON.stringify(v.frame))).toEqual(v.frame)
    })
  })

  describe.each(vectors.invalid)('invalid: $name', (v) => {
    it('is rejected by the JSON Schema', () => {
      expect(schemaValid(v.frame)).toBe(false)
    })
    it(`is rejected by the TypeScript parser (${v.why ?? ''})`, () => {
      for (const parse of parsersFor(v)) expect(() => parse(v.frame)).toThrow(FrameError)
    })
  })

  it('rejects text that is not JSON with code bad_frame', () => {
    try {
      parseFrame('{nope')
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(FrameError)
      expect((err as FrameError).code).toBe('bad_frame')
    }
  })

  it('treats null optional fields as absent (serde Option), which the JSON Schema does not allow', () => {
    const invoke = {
      type: 'invoke',
      id: 'i',
      step: 's',
      trigger: 'event',
      attempt: 1,
      traceId: 't',
      idempotencyKey: 'k',
      timeoutMs: 1,
      input: { topic: 't', data: null, eventId: 'e', messageGroupId: null },
    }
    expect(parseFrame(JSON.stringify(invoke))).toEqual(invoke)
    expect(parseFrame('{"type":"reply","id":1,"ok":true,"result":null,"error":null}')).toMatchObject({ ok: true })
    expect(schemaValid(invoke)).toBe(false)
  })

  it('does not accept a worker-only frame from the runtime', () => {
    expect(() => parseFrame(JSON.stringify({ type: 'hello', protocol: 1, token: 't', worker: {} }))).toThrow(/unknown runtime frame type "hello"/)
  })
})
