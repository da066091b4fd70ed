/**
 * What the tabs of one origin share so that the tabs holding one control-plane session never present a spent
 * refresh token (the rules are in session.ts): the cross-tab lock (Web Locks), the channel (BroadcastChannel),
 * the list of spent refresh-token hashes (localStorage, hashes only) and SHA-256. Each piece is optional: a
 * browser without it (or an insecure context, where Web Locks and `crypto.subtle` are missing) gets the
 * behaviour of one tab alone.
 *
 * @example
 * new Session({ storage: sessionStorage, ...browserTabs() })
 */

/** Name of the Web Lock every refresh grant of this origin is made under. */
export const LOCK_NAME = 'cfp.session.refresh'
/** Name of the BroadcastChannel the tabs tell each other about rotations and logouts on. */
export const CHANNEL_NAME = 'cfp.session'
/** localStorage key of the spent refresh tokens' SHA-256 hashes (never a token). */
export const SPENT_KEY = 'cfp.session.spent'
/** The spent list keeps this many hashes at most… */
export const SPENT_MAX = 200
/** …and none older than this: long enough for a frozen or discarded background tab that wakes up hours later. */
export const SPENT_MAX_AGE_MS = 24 * 3600_000

/** The part of `navigator.locks` a session uses: run `fn` while holding the exclusive lock `name`. */
export interface TabLocks {
  request<T>(name: string, fn: () => Promise<T>): Promise<T>
}

/**
 * Messages between tabs (same origin only, so tokens may travel; they are never logged):
 * - `rotated`: `previous` was spent for `next`; a tab holding `previous` keeps `next`.
 * - `need`: the sender holds `spent`, found it in the spent list and asks for its session's current token;
 *   a tab that held `spent` answers with a `rotated` from `spent` to the token it holds now.
 * - `logout`: the sender logged out the session of `tokens` (every refresh token it held in it); a tab that
 *   held any of them ends too.
 */
export type TabMessage =
  | { type: 'rotated'; previous: string; next: string }
  | { type: 'need'; spent: string }
  | { type: 'logout'; tokens: string[] }

/** The part of a BroadcastChannel a session uses. */
export interface TabChannel {
  postMessage(message: TabMessage): void
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void
  close(): void
}

/** Storage shared by the tabs of the origin (localStorage): the spent list. */
export type SharedStorage = Pick<Storage, 'getItem' | 'setItem'>

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0

/** A well-formed message, or undefined (anything else on the channel is ignored). */
export function parseTabMessage(data: unknown): TabMessage | undefined {
  if (typeof data !== 'object' || data === null) return undefined
  const m = data as Record<string, unknown>
  if (m.type === 'rotated' && isString(m.previous) && isString(m.next)) return { type: 'rotated', previous: m.previous, next: m.next }
  if (m.type === 'need' && isString(m.spent)) return { type: 'need', spent: m.spent }
  if (m.type === 'logout' && Array.isArray(m.tokens) && m.tokens.every(isString)) return { type: 'logout', tokens: m.tokens as string[] }
  return undefined
}

/** Lower-case hex SHA-256 of `text` through Web Crypto; undefined where `crypto.subtle` is missing. */
export function webDigest(): ((text: string) => Promise<string>) | undefined {
  const subtle = globalThis.crypto?.subtle
  if (!subtle) return undefined
  return async (text) => {
    const bytes = new Uint8Array(await subtle.digest('SHA-256', new TextEncoder().encode(text)))
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  }
}

interface SpentEntry {
  h: string
  t: number
}

/**
 * The hashes of refresh tokens spent by any tab of this origin, newest last. Written by the tab that rotated
 * (while it holds the lock), read by a tab about to present its token (while it holds the lock).
 */
export class SpentList {
  constructor(
    private readonly storage: SharedStorage,
    private readonly now: () => number,
  ) {}

  has(hash: string): boolean {
    return this.read().some((e) => e.h === hash)
  }

  add(hash: string): void {
    const entries = this.read().filter((e) => e.h !== hash)
    entries.push({ h: hash, t: this.now() })
    try {
      this.storage.setItem(SPENT_KEY, JSON.stringify(entries.slice(-SPENT_MAX)))
    } catch {
      // storage full or unavailable: the lock and the channel still cover tabs that are awake
    }
  }

  private read(): SpentEntry[] {
    let parsed: unknown
    try {
      parsed = JSON.parse(this.storage.getItem(SPENT_KEY) ?? '[]')
    } catch {
      return []
    }
    if (!Array.isArray(parsed)) return []
    const oldest = this.now() - SPENT_MAX_AGE_MS
    return parsed.filter(
      (e): e is SpentEntry => typeof e === 'object' && e !== null && /^[0-9a-f]{64}$/.test(String(e.h)) && typeof e.t === 'number' && e.t >= oldest,
    )
  }
}

/** The browser's lock manager, channel and localStorage, each only where it exists. */
export function browserTabs(): { locks?: TabLocks; channel?: TabChannel; shared?: SharedStorage } {
  const out: { locks?: TabLocks; channel?: TabChannel; shared?: SharedStorage } = {}
  try {
    const locks = globalThis.navigator?.locks
    // the DOM typing wraps the callback's promise once more; at run time `request` resolves with its value
    if (locks) out.locks = { request: <T>(name: string, fn: () => Promise<T>) => locks.request(name, () => fn()) as unknown as Promise<T> }
  } catch {
    // no Web Locks (an insecure context): refreshes are single-flight within this tab only
  }
  try {
    if (typeof BroadcastChannel === 'function') {
      const bc = new BroadcastChannel(CHANNEL_NAME)
      out.channel = {
        postMessage: (m) => bc.postMessage(m),
        addEventListener: (_type, listener) => bc.addEventListener('message', (e) => listener({ data: e.data })),
        close: () => bc.close(),
      }
    }
  } catch {
    // no channel: other tabs learn nothing
  }
  try {
    if (globalThis.localStorage) out.shared = globalThis.localStorage
  } catch {
    // localStorage blocked: no spent list
  }
  return out
}
