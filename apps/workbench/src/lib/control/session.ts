/**
 * The signed-in session of the workbench against the control plane. The access token (≤ 15 min) lives in
 * memory only; the refresh token — rotated on every use, and whose reuse ends the whole session — is kept in
 * `sessionStorage`, so a reload in the same tab stays signed in and closing the tab forgets it. Refreshes are
 * single-flight (two concurrent refreshes would present a spent token and end the session) and scheduled a
 * minute before the access token expires.
 *
 * @example
 * const session = new Session({ storage: sessionStorage })
 * await session.login('admin@example.com', 'correct horse battery')
 * const token = await session.accessToken()   // refreshed when about to expire
 */
import { ApiError } from '../api/client'
import type { TokenResponse } from './types'

export const REFRESH_KEY = 'cfp.refreshToken'
/** Refresh this long before expiry (or at half the lifetime, if shorter). */
export const REFRESH_MARGIN_MS = 60_000

export type SessionState = 'anonymous' | 'signed-in'

export interface SessionEvent {
  state: SessionState
  /** Why the session ended, when it ended by itself (an expired or revoked refresh token). */
  reason?: ApiError
}

type Timer = ReturnType<typeof setTimeout>

export interface SessionDeps {
  fetch?: typeof fetch
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>
  now?: () => number
  setTimer?: (fn: () => void, ms: number) => Timer
  clearTimer?: (t: Timer) => void
  /** Origin-relative base of the control plane's API; default '' (same origin). */
  baseUrl?: string
}

/** POSTs JSON to the control plane, turning `{error: {code, message}}` into an {@link ApiError}. */
export async function postJson<T>(doFetch: typeof fetch, url: string, body: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' }
  if (token) headers.authorization = `Bearer ${token}`
  let res: Response
  try {
    res = await doFetch(url, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin' })
  } catch (e) {
    throw new ApiError(0, 'network', `The control plane is not reachable (${e instanceof Error ? e.message : String(e)})`, url)
  }
  return readJson<T>(res, url)
}

export async function readJson<T>(res: Response, path: string): Promise<T> {
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {
    parsed = undefined
  }
  if (!res.ok) {
    const err = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
    const code = typeof err?.code === 'string' ? err.code : `http_${res.status}`
    const message = typeof err?.message === 'string' ? err.message : `${res.status} ${res.statusText || 'error'}`
    throw new ApiError(res.status, code, message, path)
  }
  return parsed as T
}

export class Session {
  private access: string | undefined
  private expiresAt = 0
  private tenant: string | undefined
  private region: string | undefined
  /** Access tokens for runtimes of other regions than the session's (a system-wide session's runtime pages). */
  private regional = new Map<string, { access: string; expiresAt: number }>()
  private inflight: Promise<string> | undefined
  private timer: Timer | undefined
  private listeners = new Set<(e: SessionEvent) => void>()
  private readonly fetch: typeof fetch
  private readonly storage: SessionDeps['storage']
  private readonly now: () => number
  private readonly setTimer: (fn: () => void, ms: number) => Timer
  private readonly clearTimer: (t: Timer) => void
  private readonly base: string

  constructor(deps: SessionDeps = {}) {
    this.fetch = deps.fetch ?? ((i: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(i, init))
    this.storage = deps.storage
    this.now = deps.now ?? Date.now
    this.setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms))
    this.clearTimer = deps.clearTimer ?? ((t) => clearTimeout(t))
    this.base = deps.baseUrl ?? ''
  }

  get state(): SessionState {
    return this.access ? 'signed-in' : 'anonymous'
  }

  /** The tenant the current access token is for (absent: a system-wide token). */
  get tenantId(): string | undefined {
    return this.tenant
  }

  /** A refresh token from an earlier page load of this tab exists (call {@link resume}). */
  canResume(): boolean {
    return Boolean(this.readRefresh())
  }

  subscribe(listener: (e: SessionEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async login(email: string, password: string, tenantId?: string): Promise<void> {
    const body = { email, password, ...(tenantId ? { tenant_id: tenantId } : {}) }
    this.accept(await postJson<TokenResponse>(this.fetch, `${this.base}/v1/auth/login`, body))
  }

  /** Redeems the one-time login code an SSO login redirected back with. */
  async exchangeCode(code: string): Promise<void> {
    this.accept(await postJson<TokenResponse>(this.fetch, `${this.base}/v1/auth/token`, { grant_type: 'login_code', code }))
  }

  /** Signs in again from the stored refresh token (after a reload). False when there is none or it is dead. */
  async resume(): Promise<boolean> {
    if (!this.readRefresh()) return false
    try {
      await this.refresh()
      return true
    } catch {
      return false
    }
  }

  /**
   * Rotates the refresh token for a new access token (optionally for another tenant). Concurrent callers
   * share one request. A refused refresh ends the session; a network failure keeps it and retries later.
   */
  refresh(tenantId?: string): Promise<string> {
    if (this.inflight) return this.inflight
    const refreshToken = this.readRefresh()
    if (!refreshToken) return Promise.reject(new ApiError(401, 'unauthenticated', 'not signed in', '/v1/auth/token'))
    const body = { grant_type: 'refresh_token', refresh_token: refreshToken, ...((tenantId ?? this.tenant) ? { tenant_id: tenantId ?? this.tenant } : {}) }
    this.inflight = postJson<TokenResponse>(this.fetch, `${this.base}/v1/auth/token`, body)
      .then(
        (t) => {
          this.accept(t)
          return t.access_token
        },
        (e: unknown) => {
          if (e instanceof ApiError && e.status !== 0 && e.status < 500) this.end(e)
          else this.schedule(30_000)
          throw e
        },
      )
      .finally(() => {
        this.inflight = undefined
      })
    return this.inflight
  }

  /** An access token valid for at least a few seconds more, refreshing first when needed; undefined when signed out. */
  async accessToken(): Promise<string | undefined> {
    if (this.inflight) return this.inflight
    if (this.access && this.now() < this.expiresAt - 5_000) return this.access
    if (!this.readRefresh()) return undefined
    return this.refresh()
  }

  /**
   * An access token for a runtime of `region`. A runtime accepts only tokens of its own region: a tenant's
   * session already has its tenant's; a system-wide session gets one per region through the refresh grant with
   * `region` (the rotated refresh token is kept; the session's own token is unchanged). Requests are serialized
   * with refreshes, since two concurrent uses of one refresh token end the session (reuse detection).
   */
  async accessTokenFor(region: string | undefined): Promise<string | undefined> {
    const own = await this.accessToken()
    if (!own || !region || region === this.region || this.tenant) return own
    const cached = this.regional.get(region)
    if (cached && this.now() < cached.expiresAt - 5_000) return cached.access
    const refreshToken = this.readRefresh()
    if (!refreshToken) return undefined
    const request = postJson<TokenResponse>(this.fetch, `${this.base}/v1/auth/token`, { grant_type: 'refresh_token', refresh_token: refreshToken, region })
    this.inflight = request.then((t) => {
      this.writeRefresh(t.refresh_token)
      this.regional.set(region, { access: t.access_token, expiresAt: this.now() + t.expires_in * 1000 })
      return t.access_token
    })
    try {
      return await this.inflight
    } catch (e) {
      if (e instanceof ApiError && e.status !== 0 && e.status < 500 && e.code === 'invalid_grant') this.end(e)
      throw e
    } finally {
      this.inflight = undefined
    }
  }

  /** A fresh token for the runtime of `region` after it refused the last one. */
  async refreshFor(region: string | undefined): Promise<string> {
    if (!region || region === this.region || this.tenant) return this.refresh()
    this.regional.delete(region)
    const token = await this.accessTokenFor(region)
    if (!token) throw new ApiError(401, 'unauthenticated', 'not signed in', '/v1/auth/token')
    return token
  }

  /** Ends the session on the server (logout, then revoke the refresh token) and forgets both tokens. */
  async logout(): Promise<void> {
    const access = this.access
    const refreshToken = this.readRefresh()
    this.end()
    await Promise.allSettled([
      access ? postJson(this.fetch, `${this.base}/v1/auth/logout`, {}, access) : Promise.resolve(),
      refreshToken ? postJson(this.fetch, `${this.base}/v1/auth/revoke`, { token: refreshToken, token_type_hint: 'refresh_token' }) : Promise.resolve(),
    ])
  }

  /** Forgets the tokens (the server refused them); `reason` is shown by the login page. */
  end(reason?: ApiError): void {
    const was = this.state
    this.access = undefined
    this.expiresAt = 0
    this.tenant = undefined
    this.region = undefined
    this.regional.clear()
    if (this.timer !== undefined) this.clearTimer(this.timer)
    this.timer = undefined
    try {
      this.storage?.removeItem(REFRESH_KEY)
    } catch {
      // storage unavailable: nothing was kept
    }
    if (was === 'signed-in' || reason) this.emit({ state: 'anonymous', ...(reason ? { reason } : {}) })
  }

  private accept(t: TokenResponse): void {
    const was = this.state
    this.access = t.access_token
    this.expiresAt = this.now() + t.expires_in * 1000
    this.tenant = t.tenant_id
    this.region = t.region
    this.writeRefresh(t.refresh_token)
    this.schedule(Math.max(1_000, t.expires_in * 1000 - REFRESH_MARGIN_MS, (t.expires_in * 1000) / 2))
    if (was !== 'signed-in') this.emit({ state: 'signed-in' })
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) this.clearTimer(this.timer)
    this.timer = this.setTimer(() => {
      this.timer = undefined
      this.refresh().catch(() => undefined)
    }, ms)
  }

  private writeRefresh(token: string): void {
    try {
      this.storage?.setItem(REFRESH_KEY, token)
    } catch {
      // storage unavailable: the session lasts as long as this page
    }
  }

  private readRefresh(): string | undefined {
    try {
      return this.storage?.getItem(REFRESH_KEY) ?? undefined
    } catch {
      return undefined
    }
  }

  private emit(e: SessionEvent): void {
    for (const l of this.listeners) l(e)
  }
}
