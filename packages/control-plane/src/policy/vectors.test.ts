/**
 * The shared decision vectors (`policy/vectors/decisions.json`): the control plane's evaluator must give the
 * hand-written answer of every case. The runtime (Rust) and the workbench run the same file.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { can } from './evaluate.js'
import { findPolicyFile, loadPolicy } from './load.js'
import type { Principal, ScopePath } from './types.js'

interface Case {
  name: string
  principal: Omit<Principal, 'id'>
  action: string
  target: ScopePath
  allowed: boolean
  evaluators?: string[]
}

const policy = loadPolicy()
const file = join(dirname(findPolicyFile()), 'vectors', 'decisions.json')
const cases = (JSON.parse(readFileSync(file, 'utf8')) as { cases: Case[] }).cases.filter((c) => !c.evaluators || c.evaluators.includes('control-plane'))

describe('policy/vectors/decisions.json', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(40))
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(can(policy, { id: 'x', ...c.principal } as Principal, c.action, c.target)).toBe(c.allowed)
  })
})
