import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { generate, generatedPath, schemaToTs } from './schema-to-ts.js'

describe('protocol types generated from the JSON Schema', () => {
  it('the committed src/protocol-types.gen.ts is what the schema generates (run `npm run gen:types -w packages/worker`)', () => {
    expect(readFileSync(generatedPath, 'utf8')).toBe(generate())
  })

  it('turns the schema constructs the protocol uses into types', () => {
    const ts = schemaToTs({
      oneOf: [{ $ref: '#/$defs/ping' }, { $ref: '#/$defs/job' }],
      $defs: {
        ping: { description: 'both directions: hi', type: 'object', required: ['type'], properties: { type: { const: 'ping' }, ts: { type: 'number' } } },
        job: {
          description: 'runtime -> worker: do it',
          type: 'object',
          required: ['type', 'kind', 'input'],
          properties: { type: { const: 'job' }, kind: { enum: ['a', 'b'] }, input: true },
          // JSON text: an object literal with a `then` key looks like a promise to the linter.
          allOf: JSON.parse(
            '[{"if":{"properties":{"kind":{"const":"a"}}},"then":{"properties":{"input":{"$ref":"#/$defs/A"}}}},' +
              '{"if":{"properties":{"kind":{"const":"b"}}},"then":{"properties":{"input":{"type":"string"}}}}]',
          ),
        },
        A: { type: 'object', properties: { n: { type: ['integer', 'null'] }, m: { type: 'object', additionalProperties: { type: 'string' } } } },
      },
    })
    expect(ts).toContain('export type PingFrame = {\n  type: "ping"\n  ts?: number\n}')
    expect(ts).toContain('& { kind: "a"; input: A }')
    expect(ts).toContain('& { kind: "b"; input: string }')
    expect(ts).toContain('n?: number | null')
    expect(ts).toContain('m?: Record<string, string>')
    expect(ts).toContain('export type WorkerFrame = PingFrame\n')
    expect(ts).toContain('export type RuntimeFrame = PingFrame | JobFrame\n')
  })

  it('refuses constructs it does not know rather than typing them loosely', () => {
    expect(() => schemaToTs({ oneOf: [], $defs: { X: { type: 'object', patternProperties: {} } } })).toThrow(/unsupported keyword patternProperties/)
    expect(() => schemaToTs({ oneOf: [], $defs: { X: { $ref: 'https://elsewhere/x.json' } } })).toThrow(/unsupported \$ref/)
    expect(() => schemaToTs({ oneOf: [{ $ref: '#/$defs/x' }], $defs: { x: { type: 'object' } } })).toThrow(/direction/)
  })
})
