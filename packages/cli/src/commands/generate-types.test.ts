import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
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

  it('includes the Python steps read through .cfp/venv, or says they were left out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfp-types-'))
    mkdirSync(join(dir, 'steps'))
    writeFileSync(join(dir, 'steps', 'price_step.py'), '')
    const load = async () => ({
      steps: [{ manifest: { name: 'Place', type: 'api', path: '/p', method: 'POST', emits: ['order.placed'] } }],
    })
    const before = captureIo(dir)
    expect(await runGenerateTypes({ syncSdk: () => 'x', load }, before.io)).toBe(0)
    expect(before.err.join('\n')).toMatch(/note: the Python steps are left out: \.cfp\/venv does not exist yet/)
    expect(before.err.join('\n')).toMatch(/emits 'order.placed', but no step subscribes to it/)
    // a stand-in interpreter answering `-m cfp_worker --manifest` as the Python worker does
    mkdirSync(join(dir, '.cfp', 'venv', 'bin'), { recursive: true })
    const manifest = {
      steps: [
        {
          name: 'Price',
          type: 'event',
          file: 'steps/price_step.py',
          subscribes: ['order.placed'],
          emits: [],
          input: { type: 'object', properties: { id: { type: 'string' } } },
        },
      ],
      streams: [],
      errors: [{ file: 'steps/bad_step.py', code: 'load_failed', line: 3, message: 'steps/bad_step.py:3: failed to load: syntax error' }],
    }
    writeFileSync(join(dir, '.cfp', 'venv', 'bin', 'python'), `#!/bin/sh\n[ "$5" = "--manifest" ] || exit 9\necho '${JSON.stringify(manifest)}'\n`)
    chmodSync(join(dir, '.cfp', 'venv', 'bin', 'python'), 0o755)
    const after = captureIo(dir)
    expect(await runGenerateTypes({ syncSdk: () => 'x', load }, after.io)).toBe(1)
    const text = readFileSync(join(dir, 'types.d.ts'), 'utf8')
    expect(text).toContain("'Price': EventHandler<{ id?: string }")
    expect(after.err.join('\n')).not.toMatch(/no step subscribes/)
    expect(after.err).toContain('error: steps/bad_step.py:3: failed to load: syntax error')
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
