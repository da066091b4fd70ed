/**
 * `cfp dev --require-auth` enforces what production enforces: loopback callers get no local-developer trust;
 * API steps, the runtime API and the stream socket need a token (here the dev session's admin token from
 * .cfp/dev.json, the one `cfp emit` and `cfp dlq` use), and the CLI's own commands keep working.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'

describe('cfp dev --require-auth', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'minimal'), args: ['--no-types', '--require-auth'] })
  const adminToken = () => JSON.parse(readFileSync(join(dev.server.dir, '.cfp', 'dev.json'), 'utf8')).adminToken as string

  it('says so in the banner', async () => {
    // the banner's lines follow the URL line start-up waits for: wait for this one too
    await dev.server.proc.waitForLine(/--require-auth: every request needs a token/, 10_000)
  })

  it('refuses anonymous loopback calls to API steps and the runtime API', async () => {
    const step = await dev.server.fetch('/ping', { method: 'POST', json: { id: 'anon' } })
    expect(step.status).toBe(401)
    expect(step.json.error.code).toBe('unauthenticated')
    const api = await dev.server.fetch('/__cfp/api/steps')
    expect(api.status).toBe(401)
    expect((await dev.server.fetch('/__cfp/health')).status).toBe(200)
  })

  it('serves callers with a token, and the CLI keeps working', async () => {
    const auth = { authorization: `Bearer ${adminToken()}` }
    const step = await dev.server.fetch('/ping', { method: 'POST', json: { id: 'with-token' }, headers: auth })
    expect(step.status).toBe(202)
    const emitted = await dev.server.cli(['emit', '--topic', 'ping.received', '--data', '{"id":"cli"}'])
    expect(emitted.code, emitted.stderr).toBe(0)
  })
})
