/**
 * The shared decision vectors (`policy/vectors/decisions.json`): the workbench's evaluator, which decides which
 * controls a page offers, must give the hand-written answer of every case the control plane and runtime pass.
 */
import { describe, expect, it } from 'vitest'
import vectors from '../../../../../policy/vectors/decisions.json'
import { can, POLICY } from './permissions'
import type { Me, ScopePath } from './types'

interface Case {
  name: string
  principal: Omit<Me, 'id'>
  action: string
  target: ScopePath
  allowed: boolean
  evaluators?: string[]
}

const cases = (vectors as { cases: Case[] }).cases.filter((c) => !c.evaluators || c.evaluators.includes('workbench'))

describe('policy/vectors/decisions.json', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(40))
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(can(POLICY, { id: 'x', ...c.principal } as Me, c.action, c.target)).toBe(c.allowed)
  })
})
