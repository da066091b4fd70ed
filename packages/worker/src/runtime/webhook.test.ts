import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { verifyWebhook } from './webhook.js'

const env = { HOOK_SECRET: 's3cret' }
const body = Buffer.from('{"action":"opened"}')
const sign = (text: Buffer | string, alg = 'sha256', enc: 'hex' | 'base64' = 'hex') => createHmac(alg, 's3cret').update(text).digest(enc)

describe('verifyWebhook', () => {
  const github = { secret: 'HOOK_SECRET', header: 'x-hub-signature-256', prefix: 'sha256=' }

  it('accepts a GitHub-style signature over the exact body', () => {
    expect(verifyWebhook(github, { 'x-hub-signature-256': `sha256=${sign(body)}` }, body, env)).toMatchObject({ ok: true })
  })

  it('names each verified request for replay protection: a day by default, twice the tolerance with timestamps, off with 0', () => {
    const headers = { 'x-hub-signature-256': `sha256=${sign(body)}` }
    const first = verifyWebhook(github, headers, body, env)
    const again = verifyWebhook(github, headers, body, env)
    const other = verifyWebhook(github, { 'x-hub-signature-256': `sha256=${sign('{"action":"closed"}')}` }, Buffer.from('{"action":"closed"}'), env)
    if (!first.ok || !again.ok || !other.ok) throw new Error('expected verified requests')
    expect(first.replay).toEqual({ digest: expect.stringMatching(/^[0-9a-f]{64}$/), windowSeconds: 86_400 })
    expect(again.replay?.digest).toBe(first.replay?.digest)
    expect(other.replay?.digest).not.toBe(first.replay?.digest)
    expect(verifyWebhook({ ...github, replayWindowSeconds: 0 }, headers, body, env)).toEqual({ ok: true })
    const now = 1_800_000_000
    const timed = { secret: 'HOOK_SECRET', header: 'x-sig', timestampHeader: 'x-ts', toleranceSeconds: 60 }
    const r = verifyWebhook(timed, { 'x-sig': sign(`${now}.${body}`), 'x-ts': String(now) }, body, env, now)
    expect(r).toMatchObject({ ok: true, replay: { windowSeconds: 120 } })
  })

  it('refuses a missing, mis-prefixed, wrong or non-hex signature with 401 naming the problem', () => {
    const r = (headers: Record<string, string>) => verifyWebhook(github, headers, body, env)
    expect(r({})).toMatchObject({ ok: false, status: 401, code: 'invalid_signature', message: expect.stringContaining('missing') })
    expect(r({ 'x-hub-signature-256': sign(body) })).toMatchObject({ status: 401, message: expect.stringContaining('start with') })
    expect(r({ 'x-hub-signature-256': `sha256=${sign('other body')}` })).toMatchObject({ status: 401, message: expect.stringContaining('does not match') })
    expect(r({ 'x-hub-signature-256': 'sha256=zz' })).toMatchObject({ status: 401 })
    // a body changed by one byte after signing
    expect(verifyWebhook(github, { 'x-hub-signature-256': `sha256=${sign(body)}` }, Buffer.from('{"action":"closed"}'), env)).toMatchObject({ ok: false })
  })

  it('checks timestamped signatures and their age', () => {
    const cfg = {
      secret: 'HOOK_SECRET',
      header: 'x-sig',
      timestampHeader: 'x-ts',
      encoding: 'base64' as const,
      algorithm: 'sha512' as const,
      toleranceSeconds: 60,
    }
    const now = 1_800_000_000
    const sig = sign(`${now}.${body}`, 'sha512', 'base64')
    expect(verifyWebhook(cfg, { 'x-sig': sig, 'x-ts': String(now) }, body, env, now + 30)).toMatchObject({ ok: true })
    expect(verifyWebhook(cfg, { 'x-sig': sig, 'x-ts': String(now) }, body, env, now + 61)).toMatchObject({
      status: 401,
      message: expect.stringContaining('61 s'),
    })
    expect(verifyWebhook(cfg, { 'x-sig': sig, 'x-ts': String(now + 1) }, body, env, now)).toMatchObject({ status: 401 })
    expect(verifyWebhook(cfg, { 'x-sig': sig }, body, env, now)).toMatchObject({ status: 401, message: expect.stringContaining('x-ts') })
  })

  it('reports a missing secret as a configuration problem, not a caller error', () => {
    expect(verifyWebhook(github, { 'x-hub-signature-256': 'sha256=00' }, body, {})).toMatchObject({ ok: false, status: 500, code: 'webhook_misconfigured' })
  })
})
