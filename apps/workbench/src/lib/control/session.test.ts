import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../api/client'
import { createControlClient } from './client'
import { postJson, REFRESH_KEY, Session } from './session'

function memoryStorage() {
  const m = new Map<string, string>()
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k), m }
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const pair = (n: number, expiresIn = 900) => ({ access_token: `at${n}`, token_type: 'Bearer', expires_in: expiresIn, refresh_token: `rt${n}`, region: 'local' })

interface Call {
  url: string
  body: any
  auth: string | null
}

/** A fake control plane: a handler per path; records every call. */
function fakeServer(handlers: Record<string, (c: Call) => Response | Promise<Response>>) {
  const calls: Call[] = []
  const fetch: typeof globalThis.fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input)
    const headers = new Headers(init?.headers)
    const call = { url, body: init?.body ? JSON.parse(String(init.body)) : undefined, auth: headers.get('authorization') }
    calls.push(call)
    const h = handlers[url.split('?')[0]!]
    if (!h) return json(404, { error: { code: 'not_found', message: 'no such route' } })
    return h(call)
  }) as unknown as typeof globalThis.fetch
  return { fetch, calls }
}

function manualTimers() {
  const timers: { fn: () => void; ms: number }[] = []
  return {
    timers,
    setTimer: (fn: () => void, ms: number) => {
      timers.push({ fn, ms })
      return timers.length as unknown as ReturnType<typeof setTimeout>
    },
    clearTimer: () => undefined,
  }
}

describe('Session', () => {
  it('logs in, keeps the access token in memory and the refresh token in storage, and schedules a refresh a minute before expiry', async () => {
    const storage = memoryStorage()
    const t = manualTimers()
    const { fetch, calls } = fakeServer({ '/v1/auth/login': () => json(200, pair(1)) })
    const s = new Session({ fetch, storage, ...t })
    const events: string[] = []
    s.subscribe((e) => events.push(e.state))
    await s.login('a@x.dev', 'pw-pw-pw-pw-pw')
    expect(calls[0]!.body).toEqual({ email: 'a@x.dev', password: 'pw-pw-pw-pw-pw' })
    expect(await s.accessToken()).toBe('at1')
    expect(storage.m.get(REFRESH_KEY)).toBe('rt1')
    expect([...storage.m.values()]).not.toContain('at1')
    expect(t.timers.at(-1)!.ms).toBe(840_000)
    expect(events).toEqual(['signed-in'])
  })

  it('shares one refresh between concurrent callers (a second would present a spent token) and rotates the stored token', async () => {
    const storage = memoryStorage()
    storage.setItem(REFRESH_KEY, 'rt0')
    let n = 0
    const { fetch, calls } = fakeServer({
      '/v1/auth/token': async (c) => {
        expect(c.body).toEqual({ grant_type: 'refresh_token', refresh_token: `rt${n}` })
        await new Promise((r) => setTimeout(r, 5))
        n++
        return json(200, pair(n))
      },
    })
    const s = new Session({ fetch, storage, ...manualTimers() })
    expect(s.canResume()).toBe(true)
    const [a, b, c] = await Promise.all([s.accessToken(), s.accessToken(), s.refresh()])
    expect([a, b, c]).toEqual(['at1', 'at1', 'at1'])
    expect(calls).toHaveLength(1)
    expect(storage.m.get(REFRESH_KEY)).toBe('rt1')
  })

  it('refreshes an access token that is about to expire', async () => {
    let now = 1_000_000
    const storage = memoryStorage()
    let n = 1
    const { fetch } = fakeServer({ '/v1/auth/login': () => json(200, pair(1, 60)), '/v1/auth/token': () => json(200, pair(++n, 60)) })
    const s = new Session({ fetch, storage, now: () => now, ...manualTimers() })
    await s.login('a@x.dev', 'pw')
    expect(await s.accessToken()).toBe('at1')
    now += 56_000
    expect(await s.accessToken()).toBe('at2')
  })

  it('ends the session with the reason when the refresh token is refused, but keeps it on a network failure', async () => {
    const storage = memoryStorage()
    storage.setItem(REFRESH_KEY, 'rt0')
    let down = true
    const { fetch } = fakeServer({
      '/v1/auth/token': () => {
        if (down) throw new TypeError('Failed to fetch')
        return json(400, { error: { code: 'invalid_grant', message: 'refresh token is invalid, expired, spent or revoked' } })
      },
    })
    const t = manualTimers()
    const s = new Session({ fetch, storage, ...t })
    const reasons: (string | undefined)[] = []
    s.subscribe((e) => reasons.push(e.reason?.code))
    await expect(s.refresh()).rejects.toMatchObject({ code: 'network' })
    expect(storage.m.get(REFRESH_KEY)).toBe('rt0')
    expect(t.timers.at(-1)!.ms).toBe(30_000)
    down = false
    expect(await s.resume()).toBe(false)
    expect(storage.m.has(REFRESH_KEY)).toBe(false)
    expect(reasons).toEqual(['invalid_grant'])
  })

  it('redeems an SSO login code and logs out on the server (session and refresh token)', async () => {
    const storage = memoryStorage()
    const { fetch, calls } = fakeServer({
      '/v1/auth/token': () => json(200, { ...pair(7), tenant_id: 'ten-1' }),
      '/v1/auth/logout': () => json(200, {}),
      '/v1/auth/revoke': () => json(200, {}),
    })
    const s = new Session({ fetch, storage, ...manualTimers() })
    await s.exchangeCode('code-123')
    expect(calls[0]!.body).toEqual({ grant_type: 'login_code', code: 'code-123' })
    expect(s.tenantId).toBe('ten-1')
    await s.logout()
    expect(s.state).toBe('anonymous')
    expect(storage.m.size).toBe(0)
    expect(calls.find((c) => c.url === '/v1/auth/logout')!.auth).toBe('Bearer at7')
    expect(calls.find((c) => c.url === '/v1/auth/revoke')!.body).toEqual({ token: 'rt7', token_type_hint: 'refresh_token' })
    expect(await s.accessToken()).toBeUndefined()
  })

  it('reports a wrong password as login_failed', async () => {
    const { fetch } = fakeServer({ '/v1/auth/login': () => json(401, { error: { code: 'login_failed', message: 'e-mail or password is wrong' } }) })
    const s = new Session({ fetch, storage: memoryStorage(), ...manualTimers() })
    const err = await s.login('a@x.dev', 'nope').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 401, code: 'login_failed' })
    expect(s.state).toBe('anonymous')
  })
})

describe('control client', () => {
  it('sends the bearer token, and after a 401 refreshes once and retries', async () => {
    const storage = memoryStorage()
    let n = 0
    const { fetch, calls } = fakeServer({
      '/v1/auth/login': () => json(200, pair(++n)),
      '/v1/auth/token': () => json(200, pair(++n)),
      '/v1/tenants': (c) => (c.auth === 'Bearer at2' ? json(200, { items: [] }) : json(401, { error: { code: 'unauthenticated', message: 'revoked' } })),
    })
    const s = new Session({ fetch, storage, ...manualTimers() })
    await s.login('a@x.dev', 'pw')
    const cp = createControlClient(s, { fetch })
    expect(await cp.tenants()).toEqual({ items: [] })
    expect(calls.map((c) => `${c.url} ${c.auth ?? ''}`.trim())).toEqual([
      '/v1/auth/login',
      '/v1/tenants Bearer at1',
      '/v1/auth/token',
      '/v1/tenants Bearer at2',
    ])
  })

  it('ends the session when the retry is refused too, and builds scope queries', async () => {
    const storage = memoryStorage()
    const { fetch, calls } = fakeServer({
      '/v1/auth/login': () => json(200, pair(1)),
      '/v1/auth/token': () => json(200, pair(2)),
      '/v1/rolebindings': () => json(401, { error: { code: 'unauthenticated', message: 'no' } }),
    })
    const s = new Session({ fetch, storage, ...manualTimers() })
    await s.login('a@x.dev', 'pw')
    const cp = createControlClient(s, { fetch })
    await expect(cp.bindings({ kind: 'project', id: 'p 1' })).rejects.toMatchObject({ code: 'unauthenticated' })
    expect(calls[1]!.url).toBe('/v1/rolebindings?kind=project&id=p+1')
    expect(s.state).toBe('anonymous')
  })

  it('asks for SSO providers without credentials', async () => {
    const { fetch, calls } = fakeServer({ '/v1/auth/providers': () => json(200, { items: [{ id: 'i', name: 'Corp', kind: 'oidc', loginUrl: '/x' }] }) })
    const cp = createControlClient(new Session({ fetch, storage: memoryStorage(), ...manualTimers() }), { fetch })
    expect((await cp.providers('acme')).items[0]!.name).toBe('Corp')
    expect(calls[0]).toMatchObject({ url: '/v1/auth/providers?tenant=acme', auth: null })
  })
})

describe('Session runtime tokens (exchanged, never the session token)', () => {
  const runtimeToken = (c: Call, n: number) =>
    json(200, { access_token: `rt-${c.body.region ?? 'own'}-${n}`, token_type: 'Bearer', expires_in: 300, region: c.body.region ?? 'local' })

  it('a runtime gets a runtime token exchanged for the session token, cached; the session token never goes there', async () => {
    let n = 0
    const { fetch, calls } = fakeServer({
      '/v1/auth/login': () => json(200, pair(1)),
      '/v1/tokens/runtime': (c) => runtimeToken(c, ++n),
    })
    const s = new Session({ fetch, storage: memoryStorage(), ...manualTimers() })
    await s.login('root@x.dev', 'pw-pw-pw-pw-pw')
    expect(await s.runtimeTokenFor('local')).toBe('rt-own-1')
    expect(calls.at(-1)).toMatchObject({ url: '/v1/tokens/runtime', body: {}, auth: 'Bearer at1' })
    expect(await s.runtimeTokenFor('local')).toBe('rt-own-1') // cached
    // a system-wide session's other region: named in the exchange; no refresh grant is spent on it
    expect(await s.runtimeTokenFor('eu')).toBe('rt-eu-2')
    expect(calls.at(-1)!.body).toEqual({ region: 'eu' })
    expect(calls.filter((c) => c.url === '/v1/auth/token')).toEqual([])
    expect(await s.refreshRuntimeFor('eu')).toBe('rt-eu-3') // refused by the runtime: a fresh exchange
    expect(await s.accessToken()).toBe('at1') // the session's own token is unchanged
  })

  it("a tenant's session exchanges for its own region; a refused exchange refreshes the session token once", async () => {
    let refused = true
    const { fetch, calls } = fakeServer({
      '/v1/auth/login': () => json(200, { ...pair(1), tenant_id: 't1', region: 'eu' }),
      '/v1/auth/token': () => json(200, { ...pair(2), tenant_id: 't1', region: 'eu' }),
      '/v1/tokens/runtime': (c) => {
        if (refused) {
          refused = false
          return json(401, { error: { code: 'unauthenticated', message: 'expired' } })
        }
        return runtimeToken(c, 1)
      },
    })
    const s = new Session({ fetch, storage: memoryStorage(), ...manualTimers() })
    await s.login('ann@x.dev', 'pw-pw-pw-pw-pw')
    expect(await s.runtimeTokenFor('us')).toBe('rt-own-1')
    expect(calls.map((c) => [c.url, c.auth])).toEqual([
      ['/v1/auth/login', null],
      ['/v1/tokens/runtime', 'Bearer at1'],
      ['/v1/auth/token', null],
      ['/v1/tokens/runtime', 'Bearer at2'],
    ])
    expect(calls[1]!.body).toEqual({}) // a tenant token cannot move region: the runtime of `us` refuses, rightly
  })
})

describe('postJson', () => {
  it('gives up on a control plane that does not answer, as unreachable (so a hung grant cannot hold the lock)', async () => {
    let signal: AbortSignal | undefined
    const hung = ((_: RequestInfo | URL, init?: RequestInit) => {
      signal = init?.signal ?? undefined
      return new Promise<Response>((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal!.reason)))
    }) as typeof fetch
    const pending = postJson(hung, '/v1/auth/token', {})
    expect(signal).toBeInstanceOf(AbortSignal)
    // what AbortSignal.timeout(REQUEST_TIMEOUT_MS) does when the time is up
    ;(signal as unknown as { dispatchEvent(e: Event): boolean }).dispatchEvent(new Event('abort'))
    await expect(pending).rejects.toMatchObject({ status: 0, code: 'network' })
  })
})

describe('Session.logout', () => {
  it('logs out before revoking and returns the SAML IdP logout URL the server gives', async () => {
    const storage = memoryStorage()
    const server = fakeServer({
      '/v1/auth/login': () => json(200, pair(1)),
      '/v1/auth/logout': () => json(200, { idpLogoutUrl: 'https://idp.example/slo?SAMLRequest=x' }),
      '/v1/auth/revoke': () => json(200, {}),
    })
    const s = new Session({ fetch: server.fetch, storage, ...manualTimers() })
    await s.login('a@example.com', 'pw')
    expect(await s.logout()).toEqual({ idpLogoutUrl: 'https://idp.example/slo?SAMLRequest=x' })
    expect(server.calls.map((c) => c.url)).toEqual(['/v1/auth/login', '/v1/auth/logout', '/v1/auth/revoke'])
    expect(s.state).toBe('anonymous')
  })

  it('ignores a logout URL that is not http(s)', async () => {
    const server = fakeServer({
      '/v1/auth/login': () => json(200, pair(1)),
      '/v1/auth/logout': () => json(200, { idpLogoutUrl: 'javascript:alert(1)' }),
      '/v1/auth/revoke': () => json(200, {}),
    })
    const s = new Session({ fetch: server.fetch, storage: memoryStorage(), ...manualTimers() })
    await s.login('a@example.com', 'pw')
    expect(await s.logout()).toEqual({})
  })
})
