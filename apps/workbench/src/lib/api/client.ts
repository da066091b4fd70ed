/**
 * A typed client of the runtime API (`docs/runtime-api.md`). Every method resolves with the documented
 * response or rejects with an {@link ApiError} carrying the runtime's `{error: {code, message}}`.
 *
 * @example
 * const api = createApiClient({ token: () => localStorage.getItem('cfp.adminToken') ?? undefined })
 * const { steps } = await api.steps()
 */
import type {
  DlqResponse,
  EmitResponse,
  Health,
  LogQuery,
  LogsResponse,
  QueuesResponse,
  StateGroupsResponse,
  StateItemsResponse,
  StepsResponse,
  StreamItemsResponse,
  StreamsResponse,
  TraceDetail,
  TracesResponse,
} from './types'

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    /** HTTP status; 0 when the runtime could not be reached. */
    readonly status: number,
    /** The runtime's error code (`not_found`, `unauthenticated`, …), or `network` / `bad_response`. */
    readonly code: string,
    message: string,
    readonly path: string,
  ) {
    super(message)
  }

  /**
   * The endpoint does not exist on this runtime (an older build): pages say so instead of failing. The runtime
   * answers `no_endpoint` for unknown routes and `not_found` for unknown things (a trace, a stream).
   */
  get isMissingEndpoint(): boolean {
    return this.status === 404 && (this.code === 'no_endpoint' || this.code === 'http_404')
  }

  get isUnauthenticated(): boolean {
    return this.status === 401 || this.code === 'unauthenticated'
  }
}

export interface ApiClientOptions {
  /** Default `/__cfp/api` (same origin). */
  baseUrl?: string
  fetch?: typeof fetch
  /** Admin token, sent as `Authorization: Bearer`; not needed for the local developer in dev mode. */
  token?: () => string | undefined
}

/** Builds `?a=1&b=2` from the defined, non-empty values. */
export function queryString(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue
    search.set(key, String(value))
  }
  const s = search.toString()
  return s ? `?${s}` : ''
}

function errorFromBody(status: number, body: unknown, path: string, statusText: string): ApiError {
  const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error
  if (err && typeof err === 'object') {
    const code = typeof err.code === 'string' ? err.code : `http_${status}`
    const message = typeof err.message === 'string' ? err.message : statusText
    return new ApiError(status, code, message, path)
  }
  return new ApiError(status, `http_${status}`, `${status} ${statusText || 'error'} from ${path}`, path)
}

export function createApiClient(options: ApiClientOptions = {}) {
  const base = options.baseUrl ?? '/__cfp/api'
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init))

  async function request<T>(method: string, path: string, body?: unknown, url = `${base}${path}`): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    const token = options.token?.()
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await doFetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e)
      throw new ApiError(0, 'network', `The runtime is not reachable (${reason})`, path)
    }
    const text = await res.text()
    let parsed: unknown = undefined
    if (text) {
      try {
        parsed = JSON.parse(text)
      } catch {
        if (res.ok) throw new ApiError(res.status, 'bad_response', `${path} did not answer JSON`, path)
      }
    }
    if (!res.ok) throw errorFromBody(res.status, parsed, path, res.statusText)
    return parsed as T
  }

  const enc = encodeURIComponent
  return {
    health: () => request<Health>('GET', '/health', undefined, `${base.replace(/\/api$/, '')}/health`),
    steps: () => request<StepsResponse>('GET', '/steps'),
    layout: () => request<unknown>('GET', '/layout'),
    saveLayout: (file: unknown) => request<unknown>('PUT', '/layout', file),
    logs: (q: LogQuery = {}) =>
      request<LogsResponse>(
        'GET',
        `/logs${queryString({ traceId: q.traceId, step: q.step, level: q.level, q: q.q, limit: q.limit, after: q.after })}`,
      ),
    traces: (limit = 100) => request<TracesResponse>('GET', `/traces${queryString({ limit })}`),
    trace: (traceId: string) => request<TraceDetail>('GET', `/traces/${enc(traceId)}`),
    stateGroups: () => request<StateGroupsResponse>('GET', '/state'),
    stateGroup: (group: string) => request<StateItemsResponse>('GET', `/state/${enc(group)}`),
    queues: () => request<QueuesResponse>('GET', '/queues'),
    dlq: (step?: string, limit = 200) => request<DlqResponse>('GET', `/dlq${queryString({ step, limit })}`),
    replay: (id: number) => request<{ replayed: number; step: string }>('POST', `/dlq/${id}/replay`),
    discard: (id: number) => request<{ discarded: number }>('DELETE', `/dlq/${id}`),
    emit: (topic: string, data: unknown, messageGroupId?: string) =>
      request<EmitResponse>('POST', '/emit', { topic, data, ...(messageGroupId ? { messageGroupId } : {}) }),
    streams: () => request<StreamsResponse>('GET', '/streams'),
    streamGroup: (name: string, groupId: string) =>
      request<StreamItemsResponse>('GET', `/streams/${enc(name)}/${enc(groupId)}`),
    /** URL of the `GET /live` event stream (EventSource cannot send headers: the token goes in the query). */
    liveUrl: () => {
      const token = options.token?.()
      return `${base}/live${queryString({ access_token: token })}`
    },
  }
}

export type ApiClient = ReturnType<typeof createApiClient>
