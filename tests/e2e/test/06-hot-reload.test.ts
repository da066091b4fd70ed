/**
 * Hot reload under `cfp dev`: a changed step file serves its new response within a second of the save (asserted
 * < 1500 ms), while a slow request that started before the save completes with the old code. A step file saved
 * with a syntax error gives a clear error naming the file, and the other steps keep serving; fixing it brings
 * the step back.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'
import { sleep, waitFor } from '../src/util.js'

describe('hot reload under cfp dev', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'reload') })

  it('serves a changed step within 1.5 s of the save; a request in flight finishes on the old code', async () => {
    const file = join(dev.server.dir, 'steps', 'version.step.ts')
    expect((await dev.server.fetch('/version')).json).toEqual({ version: 'v1' })

    const mark = dev.server.proc.lines.length
    const slow = dev.server.fetch('/version?delay=3000', { timeoutMs: 20_000 })
    // the slow request is running in the handler before the file changes
    await dev.server.proc.waitForLine(/\[Version\] slow request started/, 10_000, mark)

    writeFileSync(file, readFileSync(file, 'utf8').replace("const VERSION = 'v1'", "const VERSION = 'v2'"))
    const saved = Date.now()
    await waitFor(
      'the new version to be served',
      async () => {
        const res = await dev.server.fetch('/version', { timeoutMs: 5_000 })
        return res.status === 200 && res.json.version === 'v2'
      },
      { timeoutMs: 10_000, intervalMs: 25 },
    )
    const latency = Date.now() - saved
    console.log(`hot reload: new response served ${latency} ms after the save`)
    expect(latency).toBeLessThan(1_500)

    const old = await slow
    expect(old.status).toBe(200)
    expect(old.json).toEqual({ version: 'v1' })
    expect(dev.server.output(mark)).toMatch(/cfp-worker: steps\/version\.step\.ts changed; reloading/)
  })

  it('reports a syntax error naming the file, and keeps serving the other steps', async () => {
    const file = join(dev.server.dir, 'steps', 'greet.step.ts')
    const good = readFileSync(file, 'utf8')
    expect((await dev.server.fetch('/greet')).json).toEqual({ hello: 'world' })

    const mark = dev.server.proc.lines.length
    writeFileSync(file, good.replace("body: { hello: 'world' } })", "body: { hello: 'world' } )) }}"))
    const error = await dev.server.proc.waitForLine(/greet\.step\.ts: failed to load: syntax error/, 10_000, mark)
    expect(error.text).toMatch(/^\[worker\]/)
    // with the place of the error
    expect(error.text).toMatch(/greet\.step\.ts:\d+:\d+: ERROR: /)
    await dev.server.proc.waitForLine(/cfp-worker: registered 1 steps \(1 errors\)/, 10_000, mark)

    // the other step keeps serving (its new code, from the previous test), again and again
    for (let i = 0; i < 5; i++) {
      const res = await dev.server.fetch('/version')
      expect(res.status).toBe(200)
      expect(res.json).toEqual({ version: 'v2' })
      await sleep(100)
    }
    // the broken step is not served, and the error is in the runtime's log too
    const broken = await dev.server.fetch('/greet')
    expect(broken.status).toBe(404)
    expect(broken.json.error.code).toBe('not_found')
    const logs = await dev.server.logs({ level: 'error' })
    expect(logs.some((l) => /steps\/greet\.step\.ts: failed to load: syntax error/.test(l.msg))).toBe(true)

    // fixed: served again
    writeFileSync(file, good)
    await waitFor('the fixed step to be served again', async () => (await dev.server.fetch('/greet')).status === 200, { timeoutMs: 5_000, intervalMs: 50 })
    expect((await dev.server.fetch('/greet')).json).toEqual({ hello: 'world' })
  })
})
