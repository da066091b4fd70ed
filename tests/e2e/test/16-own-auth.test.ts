/**
 * Issue 9: Motia apps that do their own auth (`Authorization: Bearer <their token>`, checked by a middleware)
 * keep working under plain `cfp dev` (the loopback developer) and `cfp dev --require-auth` (the CFP credential
 * in X-API-Key), and their steps never see a CFP credential. (Behind the control plane: 11-access.)
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { FIXTURES } from '../src/env.js'

const env = { ACCESS_HOOK_SECRET: 'own-auth-test-secret' }

describe('a Motia own-auth app under cfp dev', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'access'), env })

  it('gets its own Authorization through to the middleware; the step sees the local developer', async () => {
    const ok = await dev.server.fetch('/own-auth', { method: 'POST', json: {}, headers: { authorization: 'Bearer my-app-token' } })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.json.headers.authorization).toBe('Bearer my-app-token')
    expect(ok.json.auth).toMatchObject({ kind: 'local_developer', roles: [] })
    const refused = await dev.server.fetch('/own-auth', { method: 'POST', json: {} })
    expect(refused.status).toBe(401)
    expect(refused.json).toEqual({ error: 'the app wants its own token' })
  })
})

describe('a Motia own-auth app under cfp dev --require-auth', () => {
  const dev = useDevProject({ source: join(FIXTURES, 'access'), env, args: ['--no-types', '--require-auth'] })
  const adminToken = () => JSON.parse(readFileSync(join(dev.server.dir, '.cfp', 'dev.json'), 'utf8')).adminToken as string

  it('works with the CFP credential in X-API-Key, which the step never sees', async () => {
    const ok = await dev.server.fetch('/own-auth', {
      method: 'POST',
      json: {},
      headers: { authorization: 'Bearer my-app-token', 'x-api-key': adminToken() },
    })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.json.headers.authorization).toBe('Bearer my-app-token')
    expect(ok.text).not.toContain(adminToken())
    expect(ok.json.auth).toMatchObject({ kind: 'admin' })
    // the app's token alone is no CFP credential: refused before any step code runs
    const none = await dev.server.fetch('/own-auth', { method: 'POST', json: {}, headers: { authorization: 'Bearer my-app-token' } })
    expect(none.status).toBe(401)
    expect(none.json.error.code).toBe('unauthenticated')
  })
})
