import { z as z4 } from 'zod'
import { z as z3 } from 'zod/v3'
import { z as zmini } from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { isZod3Schema, isZod4Schema, SchemaConversionError, toJsonSchema } from './schema.js'

describe('toJsonSchema', () => {
  it('converts zod 3 schemas (detected by _def)', () => {
    const s = z3.object({ title: z3.string().describe('the title'), done: z3.boolean().optional() })
    expect(isZod3Schema(s)).toBe(true)
    expect(isZod4Schema(s)).toBe(false)
    const js = toJsonSchema(s)
    expect(js).toMatchObject({
      type: 'object',
      properties: { title: { type: 'string', description: 'the title' }, done: { type: 'boolean' } },
      required: ['title'],
    })
    expect(js.$schema).toBeUndefined()
  })

  it('converts zod 4 schemas (detected by _zod), including zod/mini ones', () => {
    const s = z4.object({ id: z4.string().describe('id'), tags: z4.array(z4.string()) })
    expect(isZod4Schema(s)).toBe(true)
    expect(toJsonSchema(s)).toMatchObject({
      type: 'object',
      properties: { id: { type: 'string', description: 'id' }, tags: { type: 'array', items: { type: 'string' } } },
      required: ['id', 'tags'],
    })
    expect(toJsonSchema(zmini.object({ n: zmini.number() }))).toMatchObject({ properties: { n: { type: 'number' } } })
  })

  it('describes the input or output side of a transform', () => {
    const s = z4.object({ n: z4.string().transform((v) => v.length) })
    expect(toJsonSchema(s, { io: 'input' })).toMatchObject({ properties: { n: { type: 'string' } } })
    expect(() => toJsonSchema(s, { io: 'output' })).not.toThrow()
  })

  it('passes plain JSON Schema through as a copy', () => {
    const plain = { type: 'object', properties: { a: { type: 'number' } } }
    const js = toJsonSchema(plain)
    expect(js).toEqual(plain)
    expect(js).not.toBe(plain)
  })

  it('rejects values that are not schemas', () => {
    expect(() => toJsonSchema('string')).toThrow(SchemaConversionError)
    expect(() => toJsonSchema([1])).toThrow(/got an array/)
  })
})
