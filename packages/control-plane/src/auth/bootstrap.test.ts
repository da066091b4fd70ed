/** The bootstrap system admin: a one-time setup link, argon2id passwords, and the binary printing the link. */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock.js'
import { createHarness, DB_URL, type Harness } from '../test-support/harness.js'
import { prepareSetupLink } from './bootstrap.js'

let h: Harness
const clock = new ManualClock()

beforeAll(async () => {
  h = await createHarness({ clock })
})
afterAll(async () => h?.close())

const tokenOf = (url: string) => new URL(url).searchParams.get('token')!

describe('setup link', () => {
  it('expires', async () => {
    const url = (await prepareSetupLink(h.s))!
    clock.advance(3601_000)
    const res = await h.request('POST', '/v1/setup', { body: { token: tokenOf(url), email: 'root@example.test', password: 'correct horse battery' } })
    expect(res.status).toBe(410)
    expect(res.json.error.code).toBe('setup_unavailable')
  })

  it('creates the first system admin once, with an argon2id password', async () => {
    const url = (await prepareSetupLink(h.s))!
    expect(url).toMatch(/\/v1\/setup\?token=/)
    const form = await h.request('GET', new URL(url).pathname + new URL(url).search)
    expect(form.status).toBe(200)
    expect(form.headers['content-type']).toMatch(/text\/html/)
    const weak = await h.request('POST', '/v1/setup', { body: { token: tokenOf(url), email: 'root@example.test', password: 'short' } })
    expect(weak.status).toBe(400)

    const body = { token: tokenOf(url), email: 'root@example.test', password: 'correct horse battery' }
    const res = await h.request('POST', '/v1/setup', { body })
    expect(res.status).toBe(201)
    const me = await h.request('GET', '/v1/me', { token: res.json.access_token })
    expect(me.json.bindings).toEqual([{ role: 'system_admin', scope: {} }])
    const [u] = await h.sql("SELECT password_hash FROM users WHERE email = 'root@example.test'")
    expect(u.password_hash).toMatch(/^\$argon2id\$/)

    const again = await h.request('POST', '/v1/setup', { body: { ...body, email: 'other@example.test' } })
    expect(again.status).toBe(410)
    expect(await prepareSetupLink(h.s)).toBeUndefined()
  })

  it('then lets the admin log in with the password, and nobody with a wrong one', async () => {
    const ok = await h.request('POST', '/v1/auth/login', { body: { email: 'ROOT@example.test', password: 'correct horse battery' } })
    expect(ok.status).toBe(200)
    expect(ok.json.refresh_token).toMatch(/^cfp_rt_/)
    for (const body of [
      { email: 'root@example.test', password: 'wrong' },
      { email: 'nobody@example.test', password: 'wrong' },
    ]) {
      const res = await h.request('POST', '/v1/auth/login', { body })
      expect(res.status).toBe(401)
      expect(res.json.error).toEqual({ code: 'login_failed', message: 'e-mail or password is wrong' })
    }
  })
})

describe('cfp-control-plane binary', () => {
  const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url))
  const schema = `cfp_control_bin_${randomBytes(4).toString('hex')}`
  const env = {
    ...process.env,
    DATABASE_URL: DB_URL,
    CFP_CONTROL_SCHEMA: schema,
    CFP_CONTROL_MASTER_KEY: randomBytes(32).toString('base64'),
    CFP_CONTROL_PORT: '0',
    CFP_CONTROL_LOG_LEVEL: 'warn',
  }

  afterAll(async () => {
    const c = new pg.Client({ connectionString: DB_URL })
    await c.connect()
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await c.end()
  })

  it('prints the setup link at first start and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [main], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const deadline = Date.now() + 20_000
    while (!/\/v1\/setup\?token=\S+/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100))
    expect(out).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/)
    const link = /(http:\S+\/v1\/setup\?token=\S+)/.exec(out)![1]!
    const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]
    const res = await fetch(`http://127.0.0.1:${port}/v1/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: tokenOf(link), email: 'bin@example.test', password: 'correct horse battery' }),
    })
    expect(res.status).toBe(201)
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })

  it('validates options and masks secrets in --print-config', async () => {
    const run = (args: string[], e: NodeJS.ProcessEnv) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(process.execPath, [main, ...args], { env: e })
        let out = ''
        c.stdout.on('data', (d: Buffer) => (out += d))
        c.stderr.on('data', (d: Buffer) => (out += d))
        c.on('exit', (code) => resolve({ code, out }))
      })
    const printed = await run(['--print-config'], env)
    expect(printed.code).toBe(0)
    expect(JSON.parse(printed.out).masterKey).toBe('***')
    const bad = await run([], { ...env, CFP_CONTROL_MASTER_KEY: 'short' })
    expect(bad.code).toBe(2)
    expect(bad.out).toMatch(/--master-key/)
  })
})
