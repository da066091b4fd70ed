/**
 * The signed-in session of the workbench against the control plane. The access token (≤ 15 min) lives in
 * memory only; the refresh token — rotated on every use, and whose reuse ends the whole session on the server
 * (`refresh_token_reuse`) — is kept in this tab's `sessionStorage`, so a reload in the same tab stays signed in
 * and closing the tab forgets it (it is never written to `localStorage` or a cookie). Refreshes are scheduled a
 * minute before the access token expires. That token is the control plane's only: runtimes get a runtime token
 * obtained by exchange ({@link Session.runtimeTokenFor}), so nothing a runtime (or a step on it) sees is valid at
 * the control plane.
 *
 * Tabs of one origin that hold tokens of the same session (a duplicated tab copies `sessionStorage`) cooperate,
 * so that no refresh token is ever presented twice:
 * - Every refresh grant is made under the Web Lock `cfp.session.refresh`, so at most one tab of the origin
 *   rotates at a time; concurrent callers within a tab share one request. Without `navigator.locks` (old browsers, insecure contexts) only the
 *   in-tab single-flight remains.
 * - The tab that rotated tells the others on the BroadcastChannel `cfp.session`: `{type:'rotated', previous,
 *   next}`; a tab whose stored token equals `previous` stores `next`.
 * - Before releasing the lock it adds `sha256(previous)` (a hash, never the token) to the spent list — IndexedDB
 *   `cfp.session`, with a copy in `localStorage` `cfp.session.spent` (the last 200, none older than a day) — and
 *   waits until it is committed, so the next tab to take the lock sees it. A tab that, holding the lock, finds its own token's
 *   hash there does not present it: it asks (`{type:'need', spent}`; a tab that held that token answers with
 *   a `rotated` to the token it holds now) and waits up to 5 s for the successor; if none comes, it ends only
 *   its own session, locally, without calling the server (`session_moved`: "continued in another tab").
 * - Logout sends `{type:'logout', tokens}` with every refresh token the tab held in this session (since it
 *   loaded or signed in: its own and those it adopted); every tab that held any of them — i.e. every tab of the
 *   same session that kept up with its rotations — ends at once, locally (`signed_out_elsewhere`). Tabs of other
 *   sessions (another sign-in) share no token and stay.
 * Only same-origin tabs can listen on the channel, so tokens may travel on it; they are never logged. What
 * remains: a tab closed between the server's rotation and its broadcast, or a tab asleep longer than the spent
 * list remembers, can still present a spent token (the server then ends the session, as before).
 *
 * @example
 * const session = new Session({ storage: sessionStorage, ...browserTabs() })
 * await session.login('admin@example.com', 'correct horse battery')
 * const token = await session.accessToken()   // refreshed when about to expire
 */
import { ApiError } from '../api/client'
import { LOCK_NAME, parseTabMessage, type SharedStorage, SpentList, type SpentStore, type TabChannel, type TabLocks, type TabMessage, webDigest } from './tabs'
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
  /** The origin's lock manager (`navigator.locks`); absent: refreshes are single-flight within this tab only. */
  locks?: TabLocks
  /** The channel to the origin's other tabs (BroadcastChannel `cfp.session`); absent: they are not told. */
  channel?: TabChannel
  /** Storage shared by the origin's tabs (`localStorage`), for the spent list when `spent` is absent. */
  shared?: SharedStorage
  /** The origin's list of spent refresh-token hashes (IndexedDB); absent: the one in `shared`, or none. */
  spent?: SpentStore
  /** Hex SHA-256; default Web Crypto's, where `crypto.subtle` exists. */
  digest?: (text: string) => Promise<string>
}

/**
 * How long a tab whose token another tab spent waits for the successor before it ends its own session. The tab
 * that holds it may be busy loading or rendering (both tabs reloaded at once, on a loaded machine), so this is
 * generous; the wait only happens when a tab missed a rotation.
 */
export const HANDOFF_TIMEOUT_MS = 5_000
/** How many refresh tokens of its session a tab remembers (to answer `need` and to match a `logout`). */
const FAMILY_MAX = 256
const TOKEN_PATH = '/v1/auth/token'
const RUNTIME_TOKEN_PATH = '/v1/tokens/runtime'

interface RuntimeTokenResponse {
  access_token: string
  expires_in: number
  region: string
}

const notSignedIn = () => new ApiError(401, 'unauthenticated', 'not signed in', TOKEN_PATH)
/** This tab's refresh token was spent by another tab, which did not hand over its successor in time. */
export const sessionMoved = () =>
  new ApiError(401, 'session_moved', 'another tab of this browser renewed the session and did not hand it over to this tab', TOKEN_PATH)
/** Another tab of this session logged out. */
export const signedOutElsewhere = () => new ApiError(401, 'signed_out_elsewhere', 'signed out in another tab', '/v1/auth/logout')
/** The server refused the grant (as opposed to a network failure or a 5xx, after which the session is kept). */
const refused = (e: unknown): e is ApiError => e instanceof ApiError && e.status !== 0 && e.status < 500

/**
 * A call to the control plane that has not answered after this long fails as unreachable (the session is kept and
 * retried later). Without it a hung refresh grant would hold the origin-wide lock, and every tab's refresh, forever.
 */
export const REQUEST_TIMEOUT_MS = 30_000

/** POSTs JSON to the control plane, turning `{error: {code, message}}` into an {@link ApiError}. */
export async function postJson<T>(doFetch: typeof fetch, url: string, body: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' }
  if (token) headers.authorization = `Bearer ${token}`
  let res: Response
  try {
    const signal = typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : undefined
    res = await doFetch(url, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin', ...(signal ? { signal } : {}) })
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
  /** Runtime tokens by region (see {@link runtimeTokenFor}). */
  private runtime = new Map<string, { access: string; expiresAt: number }>()
  private runtimeInflight = new Map<string, Promise<string | undefined>>()
  private inflight: Promise<string> | undefined
  /** In-tab queue of refresh grants (each then also takes the origin-wide lock, where there is one). */
  private queue: Promise<unknown> = Promise.resolve()
  /** Bumped whenever the session ends: a grant that started before must not sign this tab in again. */
  private epoch = 0
  /** Refresh tokens this tab held in its current session, oldest first (its own and those it adopted). */
  private family: string[] = []
  /** Grants waiting for another tab to hand over the successor of their spent token. */
  private waiters = new Set<() => void>()
  private timer: Timer | undefined
  private listeners = new Set<(e: SessionEvent) => void>()
  private readonly fetch: typeof fetch
  private readonly storage: SessionDeps['storage']
  private readonly now: () => number
  private readonly setTimer: (fn: () => void, ms: number) => Timer
  private readonly clearTimer: (t: Timer) => void
  private readonly base: string
  private readonly locks: TabLocks | undefined
  private readonly channel: TabChannel | undefined
  private readonly spent: SpentStore | undefined
  private readonly digest: ((text: string) => Promise<string>) | undefined

  constructor(deps: SessionDeps = {}) {
    this.fetch = deps.fetch ?? ((i: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(i, init))
    this.storage = deps.storage
    this.now = deps.now ?? Date.now
    this.setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms))
    this.clearTimer = deps.clearTimer ?? ((t) => clearTimeout(t))
    this.base = deps.baseUrl ?? ''
    this.locks = deps.locks
    this.channel = deps.channel
    this.digest = deps.digest ?? webDigest()
    this.spent = !this.digest ? undefined : (deps.spent ?? (deps.shared ? new SpentList(deps.shared, this.now) : undefined))
    this.channel?.addEventListener('message', (e) => this.onMessage(e.data))
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
    this.begin(await postJson<TokenResponse>(this.fetch, `${this.base}/v1/auth/login`, body))
  }

  /** Redeems the one-time login code an SSO login redirected back with. */
  async exchangeCode(code: string): Promise<void> {
    this.begin(await postJson<TokenResponse>(this.fetch, `${this.base}${TOKEN_PATH}`, { grant_type: 'login_code', code }))
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
    if (!this.readRefresh()) return Promise.reject(notSignedIn())
    const tenant = tenantId ?? this.tenant
    const epoch = this.epoch
    this.inflight = this.grant(tenant ? { tenant_id: tenant } : {})
      .then(
        (t) => {
          if (epoch !== this.epoch) throw notSignedIn()
          this.accept(t)
          return t.access_token
        },
        (e: unknown) => {
          if (epoch === this.epoch) {
            if (refused(e)) this.end(e)
            else this.schedule(30_000)
          }
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
   * A token for the runtime of `region`. The session's own access token is the control plane's (audience
   * `cfp-control`) and never goes to a runtime, where step code could read it; runtimes get a runtime token
   * (audience `cfp-runtime`, refused by the control plane, ≤ 5 min, the same bindings), obtained by exchange:
   * `POST /v1/tokens/runtime` with the session's token (and `region` for a system-wide session's other
   * regions). Cached per region until shortly before it expires; concurrent callers share one exchange. The
   * exchange spends no refresh token, so it needs no lock.
   */
  async runtimeTokenFor(region: string | undefined): Promise<string | undefined> {
    const key = region ?? this.region ?? ''
    const cached = this.runtime.get(key)
    if (cached && this.now() < cached.expiresAt - 5_000) return cached.access
    let pending = this.runtimeInflight.get(key)
    if (!pending) {
      const epoch = this.epoch
      pending = this.exchange(region)
        .then((t) => {
          if (epoch !== this.epoch) throw notSignedIn()
          if (t) this.runtime.set(key, { access: t.access_token, expiresAt: this.now() + t.expires_in * 1000 })
          return t?.access_token
        })
        .finally(() => this.runtimeInflight.delete(key))
      this.runtimeInflight.set(key, pending)
    }
    return pending
  }

  /** A fresh runtime token for `region` after the runtime refused the last one. */
  async refreshRuntimeFor(region: string | undefined): Promise<string> {
    this.runtime.delete(region ?? this.region ?? '')
    const token = await this.runtimeTokenFor(region)
    if (!token) throw notSignedIn()
    return token
  }

  /** One exchange; a 401 (the control-plane token just expired or was revoked) refreshes it and tries once more. */
  private async exchange(region: string | undefined): Promise<RuntimeTokenResponse | undefined> {
    const own = await this.accessToken()
    if (!own) return undefined
    const body = region && region !== this.region && !this.tenant ? { region } : {}
    const url = `${this.base}${RUNTIME_TOKEN_PATH}`
    try {
      return await postJson<RuntimeTokenResponse>(this.fetch, url, body, own)
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) throw e
      return postJson<RuntimeTokenResponse>(this.fetch, url, body, await this.refresh())
    }
  }

  /**
   * Ends the session on the server (logout, then revoke the refresh token) and forgets both tokens; the other
   * tabs of this session (those that held any of its refresh tokens) end at once. A session opened through a
   * SAML IdP with single logout returns the IdP's logout URL; the tab that logged out sends the browser there.
   */
  async logout(): Promise<{ idpLogoutUrl?: string }> {
    const access = this.access
    const refreshToken = this.readRefresh()
    const tokens = [...this.family]
    this.end()
    if (tokens.length > 0) this.post({ type: 'logout', tokens })
    // logout first: a revoked refresh token ends the session, and the logout call would then be refused and
    // lose the SAML IdP's logout URL
    let idpLogoutUrl: string | undefined
    if (access) {
      const r = await postJson<{ idpLogoutUrl?: unknown }>(this.fetch, `${this.base}/v1/auth/logout`, {}, access).catch(() => undefined)
      if (typeof r?.idpLogoutUrl === 'string' && /^https?:\/\//.test(r.idpLogoutUrl)) idpLogoutUrl = r.idpLogoutUrl
    }
    if (refreshToken) {
      await postJson(this.fetch, `${this.base}/v1/auth/revoke`, { token: refreshToken, token_type_hint: 'refresh_token' }).catch(() => undefined)
    }
    return idpLogoutUrl ? { idpLogoutUrl } : {}
  }

  /**
   * Forgets the tokens (the server refused them, or another tab ended the session); `reason` is shown by the
   * login page. A session already over (signed out, nothing stored) keeps the reason it ended with.
   */
  end(reason?: ApiError): void {
    const was = this.state
    const hadToken = Boolean(this.readRefresh())
    this.epoch++
    this.access = undefined
    this.expiresAt = 0
    this.tenant = undefined
    this.region = undefined
    this.runtime.clear()
    this.family = []
    if (this.timer !== undefined) this.clearTimer(this.timer)
    this.timer = undefined
    try {
      this.storage?.removeItem(REFRESH_KEY)
    } catch {
      // storage unavailable: nothing was kept
    }
    this.wake()
    if (was === 'signed-in' || (reason && hadToken)) this.emit({ state: 'anonymous', ...(reason ? { reason } : {}) })
  }

  /** Stops listening to the other tabs and cancels the scheduled refresh (the page goes away). */
  dispose(): void {
    if (this.timer !== undefined) this.clearTimer(this.timer)
    this.timer = undefined
    try {
      this.channel?.close()
    } catch {
      // already closed
    }
  }

  /** A new session (login, SSO): its own token family. */
  private begin(t: TokenResponse): void {
    this.family = []
    this.accept(t)
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

  /**
   * One refresh grant: in this tab's queue and under the origin's lock, presents the stored refresh token
   * (unless another tab spent it: see {@link presentable}), then — still under the lock — records the spent
   * token's hash, keeps the successor and tells the other tabs. The rotation is recorded and announced even when
   * this tab's session ended meanwhile: other tabs may hold the token the server just spent.
   */
  private grant(extra: Record<string, string>): Promise<TokenResponse> {
    const epoch = this.epoch
    return this.exclusive(async () => {
      if (epoch !== this.epoch) throw notSignedIn()
      const { token, hash } = await this.presentable()
      const t = await postJson<TokenResponse>(this.fetch, `${this.base}${TOKEN_PATH}`, { grant_type: 'refresh_token', refresh_token: token, ...extra })
      // awaited: the next tab to take the lock must find it (see tabs.ts on why IndexedDB)
      if (hash !== undefined) await this.spent?.add(hash).catch(() => undefined)
      if (epoch === this.epoch) this.writeRefresh(t.refresh_token)
      this.post({ type: 'rotated', previous: token, next: t.refresh_token })
      return t
    })
  }

  /** Runs `fn` after this tab's earlier grants, holding the origin-wide lock where there is one. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (!this.locks) return fn()
      let started = false
      try {
        return await this.locks.request(LOCK_NAME, () => {
          started = true
          return fn()
        })
      } catch (e) {
        if (started) throw e
        return fn() // the lock manager itself failed (e.g. an opaque origin): as without one
      }
    }
    const result = this.queue.then(run, run)
    this.queue = result.catch(() => undefined)
    return result
  }

  /**
   * The stored refresh token, once it is not in the spent list. A spent one is never presented (the server
   * would end the whole session): this tab asks for its successor and waits for it up to
   * {@link HANDOFF_TIMEOUT_MS}; without one it ends its own session locally and throws `session_moved`.
   */
  private async presentable(): Promise<{ token: string; hash?: string }> {
    const epoch = this.epoch
    const deadline = this.now() + HANDOFF_TIMEOUT_MS
    let token = this.readRefresh()
    for (let round = 0; ; round++) {
      if (!token || epoch !== this.epoch) throw notSignedIn()
      let hash: string | undefined
      try {
        hash = this.spent && this.digest ? await this.digest(token) : undefined
      } catch {
        hash = undefined
      }
      const spent = hash !== undefined && this.spent ? await this.spent.has(hash).catch(() => false) : false
      if (!spent) return { token, ...(hash !== undefined ? { hash } : {}) }
      let next: string | undefined
      if (round < 4) {
        this.post({ type: 'need', spent: token })
        next = await this.successorOf(token, deadline - this.now())
      }
      if (next === undefined) {
        if (epoch !== this.epoch) throw notSignedIn() // ended meanwhile (a logout in another tab)
        const reason = sessionMoved()
        this.end(reason)
        throw reason
      }
      token = next
    }
  }

  /** Resolves with the token stored instead of `token` once another tab hands it over; undefined after `ms`. */
  private successorOf(token: string, ms: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      let done = false
      const finish = (timedOut: boolean) => {
        if (done) return
        const current = this.readRefresh()
        if (current === token && !timedOut) return
        done = true
        this.waiters.delete(onChange)
        this.clearTimer(timer)
        resolve(current === token ? undefined : current)
      }
      const onChange = () => finish(false)
      this.waiters.add(onChange)
      const timer = this.setTimer(() => finish(true), Math.max(0, ms))
      finish(false)
    })
  }

  private wake(): void {
    for (const w of [...this.waiters]) w()
  }

  private onMessage(data: unknown): void {
    const m = parseTabMessage(data)
    if (!m) return
    const stored = this.readRefresh()
    if (m.type === 'rotated') {
      if (!stored || stored !== m.previous) return
      this.writeRefresh(m.next)
      this.wake()
    } else if (m.type === 'need') {
      if (stored && stored !== m.spent && this.family.includes(m.spent)) this.post({ type: 'rotated', previous: m.spent, next: stored })
    } else if (m.tokens.some((t) => this.family.includes(t))) {
      this.end(signedOutElsewhere())
    }
  }

  private post(m: TabMessage): void {
    try {
      this.channel?.postMessage(m)
    } catch {
      // channel closed: the other tabs learn it from the spent list, or not at all
    }
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) this.clearTimer(this.timer)
    this.timer = this.setTimer(() => {
      this.timer = undefined
      this.refresh().catch(() => undefined)
    }, ms)
  }

  private remember(token: string): void {
    if (this.family.includes(token)) return
    this.family.push(token)
    if (this.family.length > FAMILY_MAX) this.family.splice(0, this.family.length - FAMILY_MAX)
  }

  private writeRefresh(token: string): void {
    this.remember(token)
    try {
      this.storage?.setItem(REFRESH_KEY, token)
    } catch {
      // storage unavailable: the session lasts as long as this page
    }
  }

  private readRefresh(): string | undefined {
    let token: string | undefined
    try {
      token = this.storage?.getItem(REFRESH_KEY) ?? undefined
    } catch {
      return undefined
    }
    if (token) this.remember(token)
    return token
  }

  private emit(e: SessionEvent): void {
    for (const l of this.listeners) l(e)
  }
}
