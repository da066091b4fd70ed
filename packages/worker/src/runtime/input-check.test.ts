import { z } from 'zod'
import { describe, expect, it } from 'vitest'
import type { LoadedStep } from '../loader/load.js'
import { warnOnInvalidInput } from './invoke.js'

const stepWith = (input: unknown) => ({ config: { type: 'event', name: 'Typed', subscribes: ['t'], emits: [], input } }) as unknown as LoadedStep

function capture() {
  const warnings: { msg: string; meta: unknown }[] = []
  const ctx = { logger: { warn: (msg: string, meta: unknown) => warnings.push({ msg, meta }) } }
  return { warnings, ctx: ctx as never }
}

describe('event input schema (warn-only, as Motia)', () => {
  const schema = z.object({ name: z.string(), n: z.number() })

  it('warns naming the step and the failing field', () => {
    const { warnings, ctx } = capture()
    warnOnInvalidInput(stepWith(schema), { name: 'a', n: 'nope' }, ctx)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.msg).toContain("'Typed'")
    expect(JSON.stringify(warnings[0]?.meta)).toContain('n:')
  })

  it('stays quiet for valid input and for steps without a zod schema', () => {
    const { warnings, ctx } = capture()
    warnOnInvalidInput(stepWith(schema), { name: 'a', n: 1 }, ctx)
    warnOnInvalidInput(stepWith(undefined), { anything: true }, ctx)
    warnOnInvalidInput(stepWith({ type: 'object' }), 5, ctx)
    expect(warnings).toHaveLength(0)
  })
})
