import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { parseOptions } from './options.js'
import { startControlPlane, type Started } from './server.js'
import { DB_URL } from './test-support/harness.js'

describe('startControlPlane on --port 0', () => {
  const schema = `cfp_control_srv_${randomBytes(4).toString('hex')}`
  let started: Started | undefined

  afterAll(async () => {
    await started?.close()
    const c = new pg.Client({ connectionString: DB_URL })
    await c.connect()
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await c.end()
  })

  it('derives the setup link and the token issuer from the port it got, not from 0', async () => {
    const { options } = parseOptions(['--port', '0', '--log-level', 'silent'], {
      DATABASE_URL: DB_URL,
      CFP_CONTROL_SCHEMA: schema,
      CFP_CONTROL_MASTER_KEY: randomBytes(32).toString('base64'),
    })
    started = await startControlPlane(options, { logger: false, maintenance: false })
    const port = new URL(started.url).port
    expect(port).not.toBe('0')
    expect(new URL(started.setupUrl!).port).toBe(port)
    expect(started.services.options.issuer).toBe(started.url)
    const setupToken = new URL(started.setupUrl!).searchParams.get('token')
    const res = await fetch(`${started.url}/v1/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: setupToken, email: 'root@example.test', password: 'correct horse battery' }),
    })
    expect(res.status).toBeLessThan(300)
    const login = await fetch(`${started.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'root@example.test', password: 'correct horse battery' }),
    })
    const body = (await login.json()) as { access_token: string }
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1]!, 'base64url').toString())
    expect(claims.iss).toBe(started.url)
  })
})
