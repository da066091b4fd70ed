/**
 * A Motia project whose one change is depending on `@cfp/cli` instead of `motia` runs its unchanged
 * `npm run dev` (`"dev": "motia dev"`) through the `motia` binary of @cfp/cli, and behaves as Motia does where it
 * shows: a thrown API handler answers 500 `{error: "Internal server error"}` (plus CFP's code, and the message in
 * dev mode), the terminal prints each failed attempt and the dead letter on one line, `.cfp/` lands in
 * `.gitignore`, and the `*.step.tsx` workbench node component beside a step is never loaded as a step.
 */
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES, REPO_ROOT } from '../src/env.js'
import { waitFor } from '../src/util.js'

describe('npm run dev with "dev": "motia dev" on @cfp/cli', () => {
  const dev = useDevProject({
    source: join(FIXTURES, 'motia-scripts'),
    npmScript: 'dev',
    env: { CFP_RETRY_BASE_MS: '50' },
    // what `npm install` does for a dependency on @cfp/cli: its bins in node_modules/.bin
    prepare: (dir) => {
      mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
      symlinkSync(join(REPO_ROOT, 'packages', 'cli', 'dist', 'motia-main.js'), join(dir, 'node_modules', '.bin', 'motia'))
    },
  })

  it('starts through the motia binary and registers the steps, not the UI node component', async () => {
    // npm echoes the script it runs (`> motia dev --port N`) only outside CI mode; where it does, it is ours
    const out = dev.server.output()
    if (out.includes('> motia')) expect(out).toMatch(/> motia dev "?--port"? "?\d+"?/)
    const res = await dev.server.fetch('/__cfp/api/steps')
    expect((res.json.steps as Array<{ name: string }>).map((s) => s.name).sort()).toEqual(['Boom', 'Doomed'])
    // never loaded as a step; the worker bundles it as the step's node component for the workbench (here that
    // fails: the fixture has no @motiadev/workbench, and the worker says so, naming the file)
    expect(dev.server.output()).not.toMatch(/doomed\.step\.tsx[^\n]*(not a step|failed to load|Cannot find package)/)
    expect(dev.server.output()).not.toContain("Cannot find package 'react'")
    expect(dev.server.output()).toMatch(/steps\/doomed\.step\.tsx: the node component of step 'Doomed'/)
  })

  it('adds .cfp/ to the project .gitignore', () => {
    expect(readFileSync(join(dev.server.dir, '.gitignore'), 'utf8')).toBe('.cfp/\n')
    expect(dev.server.output()).toContain('created .gitignore with .cfp/ in it')
  })

  it('answers a thrown handler as Motia does, and prints it in the terminal', async () => {
    const res = await dev.server.fetch('/boom', { method: 'POST', json: {} })
    expect(res.status).toBe(500)
    expect(res.json).toEqual({
      error: 'Internal server error',
      code: 'handler_error',
      // dev mode only
      message: 'step `Boom` failed: kaboom: the database password is hunter2',
    })
    const trace = res.headers.get('x-trace-id')
    await waitFor('the printed failure', async () =>
      dev.server.output().includes(`✖ Boom threw on POST /boom → 500: kaboom: the database password is hunter2 · trace ${trace}`),
    )
    const logged = await waitFor('the error in the step log', async () =>
      (await dev.server.logs({ traceId: trace as string })).find((l) => l.level === 'error'),
    )
    expect(logged.data.stack).toContain('boom.step.ts')
  })

  it('prints each failed attempt and the dead letter with the command to inspect it', async () => {
    const { traceId } = await dev.server.emit('doomed.run', {})
    await waitFor('the dead letter line', async () => dev.server.output().includes(`moved to the dead-letter queue after 2 attempts · trace ${traceId}`))
    const out = dev.server.output()
    expect(out).toContain(`✖ Doomed failed (attempt 1 of 2): doomed to fail · trace ${traceId}`)
    expect(out).toContain(`✖ Doomed failed (attempt 2 of 2): doomed to fail · trace ${traceId}`)
    expect(out).toContain(`✖ Doomed moved to the dead-letter queue after 2 attempts · trace ${traceId} — inspect: cfp dlq list --step Doomed`)
  })
})
