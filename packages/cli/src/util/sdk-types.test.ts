import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { copySdkTypes } from './sdk-types.js'

describe('syncSdkTypes', () => {
  it('copies only the declaration files into .cfp/sdk, keeping sub-directories', () => {
    const dist = mkdtempSync(join(tmpdir(), 'cfp-sdkdist-'))
    mkdirSync(join(dist, 'sub'))
    for (const f of ['motia.d.ts', 'types.d.ts', 'motia.js', 'motia.d.ts.map', 'sub/x.d.ts']) writeFileSync(join(dist, f), '')
    const project = mkdtempSync(join(tmpdir(), 'cfp-proj-'))
    expect(copySdkTypes(project, dist)).toBe(join(project, '.cfp', 'sdk'))
    expect(readdirSync(join(project, '.cfp', 'sdk')).sort()).toEqual(['motia.d.ts', 'sub', 'types.d.ts'])
    expect(readdirSync(join(project, '.cfp', 'sdk', 'sub'))).toEqual(['x.d.ts'])
  })

  it('does nothing when the sdk is not built', () => {
    expect(copySdkTypes(mkdtempSync(join(tmpdir(), 'cfp-proj-')), undefined)).toBeUndefined()
  })
})
