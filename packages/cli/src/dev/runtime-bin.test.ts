import { describe, expect, it } from 'vitest'
import { CliError } from '../util/errors.js'
import { resolveRuntimeBinary } from './runtime-bin.js'

const repo = '/repo'
const files = (entries: Record<string, number>) => (path: string) => entries[path]

describe('resolveRuntimeBinary', () => {
  it('uses CFP_RUNTIME_BIN when set, ahead of newer builds', () => {
    const bin = resolveRuntimeBinary({
      env: { CFP_RUNTIME_BIN: '/opt/cfp-runtime' },
      repoRoot: repo,
      mtimeOf: files({ '/opt/cfp-runtime': 1, '/repo/target/release/cfp-runtime': 99 }),
    })
    expect(bin).toEqual({ path: '/opt/cfp-runtime', source: 'CFP_RUNTIME_BIN' })
  })

  it('rejects a CFP_RUNTIME_BIN that does not exist instead of silently falling back', () => {
    expect(() =>
      resolveRuntimeBinary({ env: { CFP_RUNTIME_BIN: '/nope' }, repoRoot: repo, mtimeOf: files({ '/repo/target/release/cfp-runtime': 1 }) }),
    ).toThrow(/CFP_RUNTIME_BIN is set to \/nope/)
  })

  it('prefers the newest build among CARGO_TARGET_DIR and the repository target/', () => {
    const mtimeOf = files({
      '/ct/release/cfp-runtime': 10,
      '/ct/debug/cfp-runtime': 30,
      '/repo/target/release/cfp-runtime': 20,
    })
    expect(resolveRuntimeBinary({ env: { CARGO_TARGET_DIR: '/ct' }, repoRoot: repo, mtimeOf }).path).toBe('/ct/debug/cfp-runtime')
    const repoNewest = files({ '/ct/release/cfp-runtime': 10, '/repo/target/debug/cfp-runtime': 40 })
    expect(resolveRuntimeBinary({ env: { CARGO_TARGET_DIR: '/ct' }, repoRoot: repo, mtimeOf: repoNewest })).toEqual({
      path: '/repo/target/debug/cfp-runtime',
      source: 'repository target/',
    })
  })

  it('on equal times keeps the earlier candidate (release before debug)', () => {
    const mtimeOf = files({ '/repo/target/release/cfp-runtime': 5, '/repo/target/debug/cfp-runtime': 5 })
    expect(resolveRuntimeBinary({ env: {}, repoRoot: repo, mtimeOf }).path).toBe('/repo/target/release/cfp-runtime')
  })

  it('says how to build the runtime when nothing is found, listing where it looked', () => {
    let error: unknown
    try {
      resolveRuntimeBinary({ env: { CARGO_TARGET_DIR: '/ct' }, repoRoot: repo, mtimeOf: () => undefined })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(CliError)
    const e = error as CliError
    expect(e.action).toContain('cargo build --release -p cfp-runtime')
    expect(e.explanation).toContain('/ct/release/cfp-runtime')
    expect(e.explanation).toContain('/repo/target/debug/cfp-runtime')
  })
})
