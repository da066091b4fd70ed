import { describe, expect, it } from 'vitest'
import { ApiError, createApiClient, queryString } from './client'
import { remoteRuntime, runtimeFor, sameOriginRuntime } from './location'
import { endpointCall } from '../endpoint'

function fakeFetch(responses: Array<{ status: number; body?: unknown; text?: string }>) {
  const calls: Array<{ url: string; init: RequestInit | undefined }> = []
  const fetch = (async (url: string, init?: RequestInit) => {
    calls.push({ url, init })
    const r = responses.shift()!
    const text = r.text ?? (r.body === undefined ? '' : JSON.stringify(r.body))
    return new Response(text, { status: r.status })
  }) as unknown as typeof globalThis.fetch
  return { fetch, calls }
}

describe('createApiClient', () => {
  it('builds documented URLs and sends the admin token', async () => {
    const { fetch, calls } = fakeFetch([
      { status: 200, body: { logs: [] } },
      { status: 200, body: { items: [] } },
      { status: 200, body: {} },
    ])
    const api = createApiClient({ fetch, token: () => 'secret' })
    await api.logs({ traceId: 't 1', level: 'warn', after: 42, q: '' })
    await api.stateGroup('my group')
    await api.health()
    expect(calls.map((c) => c.url)).toEqual(['/__cfp/api/logs?traceId=t+1&level=warn&after=42', '/__cfp/api/state/my%20group', '/__cfp/health'])
    expect((calls[0]!.init!.headers as Record<string, string>).authorization).toBe('Bearer secret')
  })

  it('sends JSON bodies for writes', async () => {
    const { fetch, calls } = fakeFetch([
      { status: 200, body: [] },
      { status: 200, body: { replayed: 3, step: 'A' } },
    ])
    const api = createApiClient({ fetch })
    await api.saveLayout([{ id: 'f', config: {} }])
    expect(await api.replay(3)).toEqual({ replayed: 3, step: 'A' })
    expect(calls[0]!.init).toMatchObject({ method: 'PUT', body: '[{"id":"f","config":{}}]' })
    expect(calls[1]!.init).toMatchObject({ method: 'POST' })
  })

  it("turns the runtime's error shape into ApiError", async () => {
    const { fetch } = fakeFetch([
      { status: 404, body: { error: { code: 'no_endpoint', message: 'no runtime endpoint at /__cfp/api/traces' } } },
      { status: 404, body: { error: { code: 'not_found', message: 'no trace abc (it may still be running, or has expired)' } } },
      { status: 401, body: { error: { code: 'unauthenticated', message: 'token needed' } } },
      { status: 502, text: '<html>bad gateway</html>' },
    ])
    const api = createApiClient({ fetch })
    const missing = await api.traces().catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(ApiError)
    expect(missing).toMatchObject({ status: 404, code: 'no_endpoint', isMissingEndpoint: true })
    const unknown = (await api.trace('abc').catch((e: unknown) => e)) as ApiError
    expect([unknown.status, unknown.isMissingEndpoint]).toEqual([404, false])
    expect(await api.steps().catch((e: ApiError) => e.isUnauthenticated)).toBe(true)
    expect(await api.queues().catch((e: ApiError) => [e.status, e.code])).toEqual([502, 'http_502'])
  })

  it('reports an unreachable runtime', async () => {
    const api = createApiClient({
      fetch: (async () => {
        throw new TypeError('fetch failed')
      }) as unknown as typeof fetch,
    })
    expect(await api.steps().catch((e: ApiError) => [e.status, e.code])).toEqual([0, 'network'])
  })

  it('puts the token in the query for the event stream', async () => {
    expect(await createApiClient({ token: () => 'a b' }).liveUrl()).toBe('/__cfp/api/live?access_token=a+b')
    expect(await createApiClient({}).liveUrl()).toBe('/__cfp/api/live')
    expect(queryString({ a: undefined, b: null, c: '', d: 0 })).toBe('?d=0')
  })

  describe('where the runtime is (location.ts)', () => {
    const session = (tokens: string[]) => {
      let current = tokens.shift()!
      let refreshes = 0
      return {
        runtimeTokenFor: async () => current,
        refreshRuntimeFor: async () => {
          refreshes++
          current = tokens.shift() ?? current
          return current
        },
        get refreshes() {
          return refreshes
        },
      }
    }

    it('served by the runtime: same origin, no project header, the admin token only when there is one', async () => {
      const { fetch, calls } = fakeFetch([
        { status: 200, body: { steps: [] } },
        { status: 202, text: '{}' },
      ])
      const api = createApiClient({ ...sameOriginRuntime(), fetch })
      await api.steps()
      await api.callStep('POST', '/hello?x=1', { headers: { 'content-type': 'application/json' }, body: '{}' })
      expect(calls.map((c) => c.url)).toEqual(['/__cfp/api/steps', '/hello?x=1'])
      expect(calls[0]!.init!.headers).toEqual({ accept: 'application/json' })
      expect(calls[1]!.init!.headers).toEqual({ 'content-type': 'application/json' })
      expect(api.stepUrl('/hello')).toBe('/hello')
      expect(await api.liveUrl()).toBe('/__cfp/api/live')
    })

    it('served by the control plane: the runtime URL, the bearer token and X-CFP-Project; API steps under /p/<project>', async () => {
      const { fetch, calls } = fakeFetch([
        { status: 200, body: { logs: [] } },
        { status: 202, text: '{}' },
        { status: 200, text: '{}' },
      ])
      const api = createApiClient({ ...remoteRuntime('https://rt.eu.example.com/', 'p 1', session(['jwt1'])), fetch })
      await api.logs({ step: 'A' })
      await api.callStep('POST', '/hello', { headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}', sendToken: true })
      await api.callStep('GET', '/whoami', { headers: { Authorization: 'Bearer cfp_live_x' } })
      expect(calls.map((c) => c.url)).toEqual([
        'https://rt.eu.example.com/__cfp/api/logs?step=A',
        'https://rt.eu.example.com/p/p%201/hello',
        'https://rt.eu.example.com/p/p%201/whoami',
      ])
      expect(calls[0]!.init!.headers).toEqual({ accept: 'application/json', authorization: 'Bearer jwt1', 'x-cfp-project': 'p 1' })
      // API steps (the token only when asked for): no project header (the path names the project; its CORS decides)
      expect(calls[1]!.init!.headers).toEqual({ authorization: 'Bearer jwt1', 'content-type': 'application/json' })
      expect(calls[2]!.init!.headers).toEqual({ Authorization: 'Bearer cfp_live_x' })
      expect(api.stepUrl('/hello?a=1')).toBe('https://rt.eu.example.com/p/p%201/hello?a=1')
      expect(await api.liveUrl()).toBe('https://rt.eu.example.com/__cfp/api/live?access_token=jwt1&project=p+1')
    })

    it('the Endpoints call carries no Authorization unless its box is ticked (endpointCall)', async () => {
      for (const options of [remoteRuntime('https://rt.eu.example.com', 'p1', session(['rt-token'])), sameOriginRuntime(() => 'admin-token')]) {
        const { fetch, calls } = fakeFetch([
          { status: 401, text: '' },
          { status: 200, text: '{}' },
          { status: 200, text: '{}' },
        ])
        const api = createApiClient({ ...options, fetch })
        const rows = { 'content-type': 'application/json' }
        // unticked: nothing but the rows, and a 401 is shown as is (no token fetched, no retry with one)
        expect((await api.callStep('POST', '/hello', endpointCall(rows, '{}', false))).status).toBe(401)
        expect(calls[0]!.init!.headers).toEqual(rows)
        // ticked: the token as the bearer
        await api.callStep('POST', '/hello', endpointCall(rows, '{}', true))
        const sent = calls[1]!.init!.headers as Record<string, string>
        expect(sent.authorization).toMatch(/^Bearer (rt-token|admin-token)$/)
        // ticked, with the app's own Authorization row: that one stays, the token goes as X-API-Key
        await api.callStep('GET', '/me', endpointCall({ authorization: 'Bearer my-app-token' }, undefined, true))
        const own = calls[2]!.init!.headers as Record<string, string>
        expect(own.authorization).toBe('Bearer my-app-token')
        expect(own['x-api-key']).toMatch(/^(rt-token|admin-token)$/)
        expect(calls).toHaveLength(3)
      }
    })

    it('a 401 refreshes the token once and retries; a token refused right after a refresh is not refreshed again', async () => {
      const s = session(['old', 'new'])
      const { fetch, calls } = fakeFetch([
        { status: 401, body: { error: { code: 'unauthenticated', message: 'expired' } } },
        { status: 200, body: { steps: [] } },
        { status: 401, body: { error: { code: 'unauthenticated', message: 'other region' } } },
        { status: 401, body: { error: { code: 'unauthenticated', message: 'other region' } } },
        { status: 401, body: { error: { code: 'unauthenticated', message: 'other region' } } },
      ])
      const api = createApiClient({ ...remoteRuntime('http://127.0.0.1:3000', 'p1', s), fetch })
      expect(await api.steps()).toEqual({ steps: [] })
      expect(calls.map((c) => (c.init!.headers as Record<string, string>).authorization)).toEqual(['Bearer old', 'Bearer new'])
      expect(s.refreshes).toBe(1)
      // the runtime refuses the fresh token too: one refresh (no new token), then no more refresh storms
      expect(await api.queues().catch((e: ApiError) => [e.status, e.isUnauthenticated])).toEqual([401, true])
      expect(await api.queues().catch((e: ApiError) => e.status)).toBe(401)
      expect(s.refreshes).toBe(2)
    })

    it('finds the runtime of a region', () => {
      expect(runtimeFor({ eu: 'https://rt.eu' }, 'eu')).toBe('https://rt.eu')
      expect(runtimeFor({ eu: 'https://rt.eu' }, 'us')).toBeUndefined()
      expect(runtimeFor({ eu: 'https://rt.eu' }, 'toString')).toBeUndefined()
      expect(runtimeFor(undefined, 'eu')).toBeUndefined()
    })
  })
})
