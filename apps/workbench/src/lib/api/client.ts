/**
 * A typed client of the runtime API (`docs/runtime-api.md`). Every method resolves with the documented
 * response or rejects with an {@link ApiError} carrying the runtime's `{error: {code, message}}`.
 *
 * Where the runtime is and how to call it comes from one place, the options (see `location.ts`): served by the
 * runtime, calls go to the same origin (`/__cfp/api`, the project's steps at the root) with an optional admin
 * token; served by the control plane, they go to the runtime of the project's region with the session's access
 * token and `X-CFP-Project`, and a 401 refreshes the token once and retries.
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
  StepSourceResponse,
  StateItemsResponse,
  StepsResponse,
  StreamItemsResponse,
  StreamsResponse,
  TraceDetail,
  TracesResponse,
  UiResponse,
} from './types'
import type { AuditCheckpoint, AuditEntryDetail, AuditKey, AuditListItem, AuditQuery, AuditStatus } from '../control/audit'
import type { UsageQuery, UsageResponse } from '../usage'

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
  /** Base of the runtime API. Default `/__cfp/api` (same origin). */
  baseUrl?: string
  /** Base of the project's API steps (`<runtime>/p/<project>`). Default '' (same origin, the default project). */
  stepBase?: string
  /** Sent as `X-CFP-Project` (and `?project=` on the live feed). */
  project?: string
  fetch?: typeof fetch
  /** Bearer token: the admin token, or the session's access token; not needed for the local developer in dev mode. */
  token?: () => string | undefined | Promise<string | undefined>
  /** After a 401: a fresh token to retry with once (the control-plane session's refresh). */
  refresh?: () => Promise<string | undefined>
}

/** Headers of a runtime API call. */
export function runtimeHeaders(options: Pick<ApiClientOptions, 'project'>, token: string | undefined, json: boolean): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (token) headers.authorization = `Bearer ${token}`
  if (options.project) headers['x-cfp-project'] = options.project
  if (json) headers['content-type'] = 'application/json'
  return headers
}

/** URL of the live feed: EventSource cannot send headers, so token and project go in the query. */
export function liveFeedUrl(options: Pick<ApiClientOptions, 'baseUrl' | 'project'>, token: string | undefined): string {
  return `${options.baseUrl ?? '/__cfp/api'}/live${queryString({ access_token: token, project: options.project })}`
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
  const stepBase = options.stepBase ?? ''
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init))
  /** A token the runtime refused even right after a refresh: not refreshed again (another region, revoked…). */
  let refused: string | undefined

  async function send(url: string, path: string, init: RequestInit): Promise<Response> {
    try {
      return await doFetch(url, init)
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e)
      throw new ApiError(0, 'network', `The runtime is not reachable (${reason})`, path)
    }
  }

  /** Sends with the current token; on a 401, once: refresh the token and send again. */
  async function authorized(url: string, path: string, init: (token: string | undefined) => RequestInit): Promise<Response> {
    const token = await options.token?.()
    let res = await send(url, path, init(token))
    if (res.status === 401 && options.refresh && token !== refused) {
      const next = await options.refresh().catch(() => undefined)
      if (next && next !== token) {
        res = await send(url, path, init(next))
        if (res.status === 401) refused = next
      } else {
        refused = token
      }
    }
    return res
  }

  async function request<T>(method: string, path: string, body?: unknown, url = `${base}${path}`): Promise<T> {
    const res = await authorized(url, path, (token) => ({
      method,
      headers: runtimeHeaders(options, token, body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    }))
    const text = await res.text()
    let parsed: unknown
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

  /** A text answer (a plugin component's sandbox document). */
  async function requestText(path: string): Promise<string> {
    const res = await authorized(`${base}${path}`, path, (token) => ({ method: 'GET', headers: runtimeHeaders(options, token, false) }))
    const text = await res.text()
    if (!res.ok) {
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {}
      throw errorFromBody(res.status, parsed, path, res.statusText)
    }
    return text
  }

  const enc = encodeURIComponent
  return {
    /** Plugin tabs and node components the project's workers registered (docs/workbench.md). */
    ui: () => request<UiResponse>('GET', '/ui'),
    /** The sandbox document of one of them, by the SHA-256 of its script. */
    uiDocument: (bundle: string) => requestText(`/ui/bundles/${enc(bundle)}`),
    health: () => request<Health>('GET', '/health', undefined, `${base.replace(/\/api$/, '')}/health`),
    steps: () => request<StepsResponse>('GET', '/steps'),
    layout: () => request<unknown>('GET', '/layout'),
    saveLayout: (file: unknown) => request<unknown>('PUT', '/layout', file),
    logs: (q: LogQuery = {}) =>
      request<LogsResponse>('GET', `/logs${queryString({ traceId: q.traceId, step: q.step, level: q.level, q: q.q, limit: q.limit, after: q.after })}`),
    traces: (limit = 100) => request<TracesResponse>('GET', `/traces${queryString({ limit })}`),
    trace: (traceId: string) => request<TraceDetail>('GET', `/traces/${enc(traceId)}`),
    /** A step's source file, read by a worker hosting it (a diagnostic endpoint: `step.source.read`). */
    stepSource: (step: string) => request<StepSourceResponse>('GET', `/steps/${enc(step)}/source`),
    stateGroups: () => request<StateGroupsResponse>('GET', '/state'),
    stateGroup: (group: string) => request<StateItemsResponse>('GET', `/state/${enc(group)}`),
    queues: () => request<QueuesResponse>('GET', '/queues'),
    /** Usage counters per hour or day, of the project or its tenant (`usage.read`, lib/usage.ts). */
    usage: (q: UsageQuery) => request<UsageResponse>('GET', `/usage${queryString({ ...q })}`),
    dlq: (step?: string, limit = 200) => request<DlqResponse>('GET', `/dlq${queryString({ step, limit })}`),
    replay: (id: number) => request<{ replayed: number; step: string }>('POST', `/dlq/${id}/replay`),
    discard: (id: number) => request<{ discarded: number }>('DELETE', `/dlq/${id}`),
    emit: (topic: string, data: unknown, messageGroupId?: string) =>
      request<EmitResponse>('POST', '/emit', { topic, data, ...(messageGroupId ? { messageGroupId } : {}) }),
    /** The runtime's audit chain (`audit.runtime.read`; docs/runtime-api.md): the control plane's shapes. */
    auditEntries: (q: Omit<AuditQuery, 'tenant' | 'project'>) =>
      request<{ items: AuditListItem[]; next: string | null }>('GET', `/audit/entries${queryString({ ...q })}`),
    auditEntry: (chain: string, seq: number) => request<AuditEntryDetail>('GET', `/audit/entries/${enc(chain)}/${seq}`),
    /** The newest checkpoints of `chain`, or of the caller's own chain (`runtime:<tenant>`). */
    auditCheckpoints: (chain: string | undefined, limit = 1) =>
      request<{ items: AuditCheckpoint[] }>('GET', `/audit/checkpoints${queryString({ chain, limit })}`),
    auditKeys: () => request<{ items: AuditKey[] }>('GET', '/audit/keys'),
    /** The operator's: the runtime's last verification of every chain and its last anchor. */
    auditStatus: () => request<AuditStatus>('GET', '/audit/status'),
    /** Verifies every chain of the runtime now (the operator's; 429 while a run is under way). */
    auditVerify: () => request<NonNullable<AuditStatus['lastVerification']>>('POST', '/audit/verify'),
    streams: () => request<StreamsResponse>('GET', '/streams'),
    streamGroup: (name: string, groupId: string) => request<StreamItemsResponse>('GET', `/streams/${enc(name)}/${enc(groupId)}`),
    /** Any runtime API call (`/slo`, …), for pages that type their own responses (lib/slo.ts). */
    call: <T>(method: string, path: string, body?: unknown) => request<T>(method, path, body),
    /** URL of the `GET /live` event stream (EventSource cannot send headers: token and project go in the query). */
    liveUrl: async () => liveFeedUrl({ baseUrl: base, ...(options.project ? { project: options.project } : {}) }, await options.token?.()),
    /** Where an API step's path is called (`/hello` → `<runtime>/p/<project>/hello`, or same origin). */
    stepUrl: (pathAndQuery: string) => `${stepBase}${pathAndQuery}`,
    /**
     * Calls one of the project's API steps, as the Endpoints page does; the raw response is returned whatever
     * its status. The caller's token goes with the call only when `sendToken` is set (the page's per-call
     * checkbox, off by default): step code sees what it is sent, and a step is tenant code. It goes as
     * `Authorization: Bearer`, or as `X-API-Key` when the request sets its own `authorization` (an app doing its
     * own auth), which the runtime then passes to the step unchanged.
     */
    callStep: (method: string, pathAndQuery: string, init: { headers?: Record<string, string>; body?: string; sendToken?: boolean } = {}) => {
      const url = `${stepBase}${pathAndQuery}`
      const headers = init.headers ?? {}
      if (!init.sendToken) return send(url, pathAndQuery, { method, headers, body: init.body })
      const own = Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')
      return authorized(url, pathAndQuery, (token) => ({
        method,
        headers: { ...headers, ...(token ? (own ? { 'x-api-key': token } : { authorization: `Bearer ${token}` }) : {}) },
        body: init.body,
      }))
    },
  }
}

export type ApiClient = ReturnType<typeof createApiClient>
