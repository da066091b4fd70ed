/**
 * Attack tests (issue 9 item 7): a tenant admin's OIDC issuer (and the endpoints its discovery document names)
 * must not make the control plane call cloud metadata, the company network or its own host. The refusal happens
 * before any connection: the link-local and private cases never send a packet (IP literals are refused before a
 * socket exists), and the loopback case proves it with a local server that counts connections.
 */
import { createServer, type Server } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser } from '../test-support/browser.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'
import { classifyAddress, guardedFetch, OutboundRefused } from './outbound.js'

let h: Harness
let w: World
let listener: Server
let connections = 0

beforeAll(async () => {
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
  listener = createServer((socket) => {
    connections += 1
    socket.destroy()
  })
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r))
})
afterAll(async () => {
  listener.close()
  await h?.close()
})

async function providerWith(issuer: string): Promise<string> {
  const res = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/idps`, {
    token: w.byName('t_admin').token,
    body: { kind: 'oidc', name: `ssrf-${Math.random().toString(36).slice(2)}`, clientSecret: 's', oidc: { issuer, clientId: 'c' } },
  })
  expect(res.status).toBe(201)
  return res.json.id
}

async function startLogin(idpId: string): Promise<{ status: number; code: string; message: string; ms: number }> {
  const t0 = Date.now()
  const res = await new Browser().go(`${h.url}/v1/auth/oidc/${idpId}/login`)
  const body = (await res.json()) as { error: { code: string; message: string } }
  return { status: res.status, code: body.error.code, message: body.error.message, ms: Date.now() - t0 }
}

describe('outbound requests to identity providers', () => {
  it('classifies addresses, IPv4-mapped IPv6 included', () => {
    expect(['127.0.0.1', '::1', '::ffff:127.0.0.2'].map(classifyAddress)).toEqual(['loopback', 'loopback', 'loopback'])
    expect(['169.254.169.254', 'fe80::1', '::ffff:169.254.169.254'].map(classifyAddress)).toEqual(['link-local', 'link-local', 'link-local'])
    expect(['10.0.0.1', '172.16.5.4', '192.168.1.1', '100.64.0.1', 'fd00::1'].map(classifyAddress)).toEqual(Array(5).fill('private'))
    expect(['0.0.0.0', '224.0.0.1', '::', '64:ff9b::a00:1'].map(classifyAddress)).toEqual(Array(4).fill('reserved'))
    expect(['8.8.8.8', '2606:4700::1111', '172.32.0.1'].map(classifyAddress)).toEqual(['public', 'public', 'public'])
  })

  it('refuses an issuer at 169.254.169.254 or 10.0.0.1 before connecting (502 sso_failed naming the address class)', async () => {
    for (const [issuer, cls] of [
      ['https://169.254.169.254', 'link-local'],
      ['https://10.0.0.1', 'private'],
      ['https://[::ffff:a9fe:a9fe]', 'link-local'],
    ] as const) {
      const r = await startLogin(await providerWith(issuer))
      expect({ status: r.status, code: r.code }, issuer).toEqual({ status: 502, code: 'sso_failed' })
      expect(r.message).toContain(`${cls} address`)
      expect(r.ms, 'refused at once, not after a connect timeout').toBeLessThan(2_000)
    }
  })

  it('refuses a host name that resolves to loopback, checked at connect time, without connecting', async () => {
    const port = (listener.address() as AddressInfo).port
    const idpId = await providerWith(`https://localhost:${port}`)
    h.s.options.allowLoopbackIdp = false
    try {
      const r = await startLogin(idpId)
      expect(connections, 'no connection was made').toBe(0)
      expect({ status: r.status, code: r.code }).toEqual({ status: 502, code: 'sso_failed' })
      expect(r.message).toContain('loopback address')
    } finally {
      h.s.options.allowLoopbackIdp = true
    }
  })

  it('the fetch itself refuses literals and names without sending anything', async () => {
    const strict = guardedFetch({ allowLoopback: false, allowPrivate: false })
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'https://10.0.0.1/.well-known/openid-configuration',
      'http://[fe80::1]/',
      'http://0.0.0.0/',
    ]) {
      await expect(strict(url), url).rejects.toBeInstanceOf(OutboundRefused)
    }
    await expect(strict(`http://localhost:${(listener.address() as AddressInfo).port}/`)).rejects.toBeInstanceOf(OutboundRefused)
    expect(connections).toBe(0)
    // allowed on loopback, it does connect (the listener hangs up)
    await expect(guardedFetch({ allowLoopback: true, allowPrivate: false })(`http://127.0.0.1:${(listener.address() as AddressInfo).port}/`)).rejects.toThrow()
    expect(connections).toBe(1)
    // link-local stays refused even when private addresses are allowed
    await expect(guardedFetch({ allowLoopback: true, allowPrivate: true })('http://169.254.169.254/')).rejects.toBeInstanceOf(OutboundRefused)
  })
})
