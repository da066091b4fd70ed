import { describe, expect, it } from 'vitest'
import { ApiError, createApiClient, queryString } from './client'

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
    const { fetch, calls } = fakeFetch([{ status: 200, body: { logs: [] } }, { status: 200, body: { items: [] } }, { status: 200, body: {} }])
    const api = createApiClient({ fetch, token: () => 'secret' })
    await api.logs({ traceId: 't 1', level: 'warn', after: 42, q: '' })
    await api.stateGroup('my group')
    await api.health()
    expect(calls.map((c) => c.url)).toEqual(['/__cfp/api/logs?traceId=t+1&level=warn&after=42', '/__cfp/api/state/my%20group', '/__cfp/health'])
    expect((calls[0]!.init!.headers as Record<string, string>).authorization).toBe('Bearer secret')
  })

  it('sends JSON bodies for writes', async () => {
    const { fetch, calls } = fakeFetch([{ status: 200, body: [] }, { status: 200, body: { replayed: 3, step: 'A' } }])
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

  it('puts the token in the query for the event stream', () => {
    expect(createApiClient({ token: () => 'a b' }).liveUrl()).toBe('/__cfp/api/live?access_token=a+b')
    expect(createApiClient({}).liveUrl()).toBe('/__cfp/api/live')
    expect(queryString({ a: undefined, b: null, c: '', d: 0 })).toBe('?d=0')
  })
})
