import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { jsonSchemaToTs as ts, tsKey, tsString } from './json-schema-to-ts.js'

const fromZod = (schema: z.ZodType) => ts(z.toJSONSchema(schema, { unrepresentable: 'any' }))

describe('jsonSchemaToTs', () => {
  it('renders primitives', () => {
    expect(ts({ type: 'string' })).toBe('string')
    expect(ts({ type: 'integer' })).toBe('number')
    expect(ts({ type: 'number' })).toBe('number')
    expect(ts({ type: 'boolean' })).toBe('boolean')
    expect(ts({ type: 'null' })).toBe('null')
    expect(ts({ type: 'string', format: 'binary' })).toBe('Buffer')
  })

  it('treats missing, empty and boolean schemas as unknown / never', () => {
    expect(ts(undefined)).toBe('unknown')
    expect(ts(null)).toBe('unknown')
    expect(ts({})).toBe('unknown')
    expect(ts(true)).toBe('unknown')
    expect(ts(false)).toBe('never')
  })

  it('marks properties optional unless required, and quotes keys that are not identifiers', () => {
    const schema = {
      type: 'object',
      properties: { id: { type: 'string' }, 'content-type': { type: 'string' }, count: { type: 'integer' } },
      required: ['id', 'content-type'],
    }
    expect(ts(schema)).toBe("{ id: string; 'content-type': string; count?: number }")
  })

  it('renders records, closed empty objects and open objects', () => {
    expect(ts({ type: 'object', additionalProperties: { type: 'number' } })).toBe('Record<string, number>')
    expect(ts({ type: 'object', additionalProperties: false })).toBe('Record<string, never>')
    expect(ts({ type: 'object' })).toBe('Record<string, unknown>')
    expect(ts({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: true })).toBe(
      '{ a: string; [key: string]: unknown }',
    )
    expect(ts({ properties: { a: { type: 'string' } } })).toBe('{ a?: string }')
  })

  it('renders arrays and tuples', () => {
    expect(ts({ type: 'array', items: { type: 'string' } })).toBe('Array<string>')
    expect(ts({ type: 'array' })).toBe('Array<unknown>')
    expect(ts({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] })).toBe('[string, number]')
    expect(ts({ type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'boolean' } })).toBe('[string, ...Array<boolean>]')
    expect(ts({ type: 'array', items: [{ type: 'string' }, { type: 'null' }] })).toBe('[string, null]')
  })

  it('renders enums and consts as literal unions', () => {
    expect(ts({ type: 'string', enum: ['open', 'closed'] })).toBe("'open' | 'closed'")
    expect(ts({ enum: [1, 'two', null, true] })).toBe("1 | 'two' | null | true")
    expect(ts({ const: "it's" })).toBe("'it\\'s'")
  })

  it('renders anyOf/oneOf as unions, type lists and nullable too', () => {
    expect(ts({ anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'string' }] })).toBe('string | number')
    expect(ts({ oneOf: [{ type: 'string' }, { type: 'null' }] })).toBe('string | null')
    expect(ts({ type: ['string', 'null'] })).toBe('string | null')
    expect(ts({ type: 'string', nullable: true })).toBe('string | null')
    expect(ts({ anyOf: [{ type: 'string' }, {}] })).toBe('unknown')
  })

  it('renders allOf as an intersection, parenthesising unions', () => {
    const a = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }
    const b = { type: 'object', properties: { b: { type: 'number' } }, required: ['b'] }
    expect(ts({ allOf: [a, b] })).toBe('{ a: string } & { b: number }')
    expect(ts({ allOf: [a, { anyOf: [b, { type: 'null' }] }] })).toBe('{ a: string } & ({ b: number } | null)')
    expect(ts({ allOf: [a, {}] })).toBe('{ a: string }')
  })

  it('follows local $refs and stops at cycles', () => {
    const schema = {
      type: 'object',
      properties: { owner: { $ref: '#/$defs/User' }, legacy: { $ref: '#/definitions/Tag' } },
      required: ['owner'],
      $defs: { User: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } },
      definitions: { Tag: { enum: ['a', 'b'] } },
    }
    expect(ts(schema)).toBe("{ owner: { name: string }; legacy?: 'a' | 'b' }")
    const tree = { type: 'object', properties: { children: { type: 'array', items: { $ref: '#' } } } }
    expect(ts(tree)).toBe('{ children?: Array<unknown> }')
    expect(ts({ $ref: 'https://example.com/other.json' })).toBe('unknown')
  })

  it('converts what zod 4 produces', () => {
    expect(fromZod(z.object({ name: z.string(), age: z.number().int().optional() }))).toBe('{ name: string; age?: number }')
    expect(fromZod(z.record(z.string(), z.object({ name: z.string() })))).toBe('Record<string, { name: string }>')
    expect(fromZod(z.array(z.object({ name: z.string() })))).toBe('Array<{ name: string }>')
    expect(fromZod(z.object({ status: z.enum(['open', 'closed']) }))).toBe("{ status: 'open' | 'closed' }")
    expect(fromZod(z.object({ v: z.union([z.string(), z.number()]).nullable() }))).toBe('{ v: string | number | null }')
    expect(fromZod(z.object({ kind: z.literal('a'), at: z.iso.datetime() }))).toBe("{ kind: 'a'; at: string }")
    expect(fromZod(z.looseObject({ a: z.boolean() }))).toBe('{ a: boolean; [key: string]: unknown }')
    const Node: z.ZodType = z.object({
      value: z.string(),
      get next() {
        return Node.optional()
      },
    })
    expect(fromZod(Node)).toBe('{ value: string; next?: unknown }')
  })

  it('escapes string literals and keys', () => {
    expect(tsString("a\\b'c\nd")).toBe("'a\\\\b\\'c\\nd'")
    expect(tsKey('valid_$1')).toBe('valid_$1')
    expect(tsKey('1abc')).toBe("'1abc'")
  })
})
