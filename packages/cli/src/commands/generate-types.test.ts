import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { captureIo } from '../test-support/fake-server.js'
import { describeLoadError, runGenerateTypes, streamManifests } from './generate-types.js'

describe('cfp generate-types', () => {
  it('writes types.d.ts from the loaded manifests and reports load errors with exit code 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfp-types-'))
    const { io, err } = captureIo(dir)
    const code = await runGenerateTypes(
      {
        syncSdk: () => join(dir, '.cfp', 'sdk'),
        load: async (d) => {
          expect(d).toBe(dir)
          return {
            steps: [{ manifest: { name: 'Tick', type: 'cron', emits: [] } }],
            streams: [{ manifest: { name: 'live', schema: { type: 'string' } } }],
            errors: [{ file: join(dir, 'steps/bad.step.ts'), message: "Unknown config key 'subscribe'" }],
          }
        },
      },
      io,
    )
    expect(code).toBe(1)
    const text = readFileSync(join(dir, 'types.d.ts'), 'utf8')
    expect(text).toContain("'Tick': CronHandler<{ topic: string; data: unknown; messageGroupId?: string }>")
    expect(text).toContain("'live': MotiaStream<string>")
    expect(err).toContain("error: steps/bad.step.ts: Unknown config key 'subscribe'")
    expect(err.at(-1)).toMatch(/Wrote types\.d\.ts: 1 handler, 1 stream\(s\); 1 file\(s\) could not be loaded/)
  })

  it('is silent with --quiet when all went well', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfp-types-'))
    const { io, err } = captureIo(dir)
    expect(await runGenerateTypes({ quiet: true, syncSdk: () => 'x', load: async () => ({ steps: [] }) }, io)).toBe(0)
    expect(err).toEqual([])
  })

  it('wraps a loader crash in a clear error', async () => {
    const { io } = captureIo(tmpdir())
    await expect(runGenerateTypes({ syncSdk: () => 'x', load: async () => Promise.reject(new Error('tsx exploded')) }, io)).rejects.toThrow(
      /Could not load the project in .*: tsx exploded/,
    )
  })

  it('accepts stream entries as manifests, configs or wrappers, and errors of any shape', () => {
    expect(streamManifests([{ name: 'a' }, { config: { name: 'b' } }, { manifest: { name: 'c' } }, { nope: 1 }]).map((s) => s.name)).toEqual(['a', 'b', 'c'])
    expect(describeLoadError('plain', '/')).toBe('plain')
    expect(describeLoadError({ step: 'X', message: 'm' }, '/')).toBe("step 'X': m")
    expect(describeLoadError(new Error('e'), '/')).toBe('e')
    expect(describeLoadError({ file: 'steps/a.step.ts', message: 'steps/a.step.ts: failed to load' }, '/')).toBe('steps/a.step.ts: failed to load')
  })
})
