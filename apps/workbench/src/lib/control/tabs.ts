/**
 * What the tabs of one origin share so that the tabs holding one control-plane session never present a spent
 * refresh token (the rules are in session.ts): the cross-tab lock (Web Locks), the channel (BroadcastChannel),
 * the list of spent refresh-token hashes (hashes only; IndexedDB, and a copy in localStorage) and SHA-256. Each
 * piece is optional: a browser without it (or an insecure context, where Web Locks and `crypto.subtle` are
 * missing) gets the behaviour of one tab alone.
 *
 * Why IndexedDB: the list is written by the tab that rotated just before it releases the lock, and read by the
 * next tab just after it takes the lock, so the read must see the write. A committed IndexedDB transaction is
 * seen by every transaction started after it, in any tab. localStorage is not enough: Chrome gives each renderer
 * process a cached copy that other processes' writes reach asynchronously, so a tab taking the lock a moment
 * after another released it could still read the old list, present the spent token, and end the session.
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
/** IndexedDB database and object store of the same hashes (keyPath `h`, index `t`). */
export const SPENT_DB = 'cfp.session'
export const SPENT_STORE = 'spent'
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
export type TabMessage = { type: 'rotated'; previous: string; next: string } | { type: 'need'; spent: string } | { type: 'logout'; tokens: string[] }

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
 * The hashes of refresh tokens spent by any tab of this origin. `add` is awaited by the tab that rotated while
 * it holds the lock, `has` by a tab about to present its token while it holds the lock.
 */
export interface SpentStore {
  has(hash: string): Promise<boolean>
  add(hash: string): Promise<void>
}

/**
 * The spent list in localStorage, newest last: what a browser without IndexedDB has, and the copy kept next to
 * it (see the module's comment for why it alone is not enough in Chrome).
 */
export class SpentList implements SpentStore {
  constructor(
    private readonly storage: SharedStorage,
    private readonly now: () => number,
  ) {}

  async has(hash: string): Promise<boolean> {
    return this.read().some((e) => e.h === hash)
  }

  async add(hash: string): Promise<void> {
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

/**
 * How long an IndexedDB step may take before the list counts it as failed (and relies on the localStorage copy):
 * a browser whose IndexedDB never answers (some versions have hung on `open`) must not hold the lock forever.
 */
export const IDB_TIMEOUT_MS = 1_000

class IdbTimeout extends Error {}

const within = <T>(p: Promise<T>, ms: number): Promise<T> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new IdbTimeout(`IndexedDB did not answer within ${ms} ms`)), ms)
    p.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e: unknown) => {
        clearTimeout(timer)
        reject(e)
      },
    )
  })

const done = (req: IDBRequest | IDBTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    if ('oncomplete' in req) {
      req.oncomplete = () => resolve()
      req.onabort = () => reject(req.error ?? new Error('IndexedDB transaction aborted'))
      req.onerror = () => reject(req.error ?? new Error('IndexedDB transaction failed'))
    } else {
      req.onsuccess = () => resolve()
      req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'))
    }
  })

/**
 * The spent list in IndexedDB (database `cfp.session`, store `spent`: `{h, t}`), with the localStorage list as a
 * copy: `add` writes both, `has` is true when either has the hash. An IndexedDB failure (a browser that refuses
 * it, say in a private window) leaves the localStorage list alone, as before.
 */
export class IdbSpentList implements SpentStore {
  private db: Promise<IDBDatabase> | undefined
  /** IndexedDB hung once: this page relies on the localStorage copy from then on instead of waiting each time. */
  private hung = false

  constructor(
    private readonly idb: IDBFactory,
    private readonly now: () => number,
    private readonly copy?: SpentStore,
  ) {}

  async has(hash: string): Promise<boolean> {
    if (await this.copy?.has(hash)) return true
    if (this.hung) return false
    try {
      return await within(this.read(hash), IDB_TIMEOUT_MS)
    } catch (e) {
      this.hung ||= e instanceof IdbTimeout
      return false
    }
  }

  async add(hash: string): Promise<void> {
    await this.copy?.add(hash)
    if (this.hung) return
    try {
      await within(this.write(hash), IDB_TIMEOUT_MS)
    } catch (e) {
      // IndexedDB refused or hung: the localStorage copy holds it
      this.hung ||= e instanceof IdbTimeout
    }
  }

  private async read(hash: string): Promise<boolean> {
    const db = await this.open()
    const req = db.transaction(SPENT_STORE, 'readonly').objectStore(SPENT_STORE).get(hash)
    await done(req)
    const entry = req.result as SpentEntry | undefined
    return entry !== undefined && entry.t >= this.now() - SPENT_MAX_AGE_MS
  }

  private async write(hash: string): Promise<void> {
    const db = await this.open()
    const tx = db.transaction(SPENT_STORE, 'readwrite')
    const store = tx.objectStore(SPENT_STORE)
    store.put({ h: hash, t: this.now() } satisfies SpentEntry)
    // oldest first: forget what is older than the maximum age, and the oldest beyond the maximum count
    const oldest = this.now() - SPENT_MAX_AGE_MS
    const counted = store.count()
    counted.onsuccess = () => {
      let extra = counted.result - SPENT_MAX
      store.index('t').openCursor().onsuccess = function () {
        const cursor = this.result
        if (!cursor || ((cursor.value as SpentEntry).t >= oldest && extra <= 0)) return
        cursor.delete()
        extra--
        cursor.continue()
      }
    }
    await done(tx)
  }

  private open(): Promise<IDBDatabase> {
    if (!this.db) {
      const opening = new Promise<IDBDatabase>((resolve, reject) => {
        const req = this.idb.open(SPENT_DB, 1)
        req.onupgradeneeded = () => req.result.createObjectStore(SPENT_STORE, { keyPath: 'h' }).createIndex('t', 't')
        req.onsuccess = () => {
          const db = req.result
          // a newer page version upgrading the database: let it, and open again on the next call
          db.onversionchange = () => {
            db.close()
            this.db = undefined
          }
          resolve(db)
        }
        req.onerror = () => reject(req.error ?? new Error('IndexedDB open failed'))
      })
      this.db = opening
      opening.catch(() => {
        if (this.db === opening) this.db = undefined
      })
    }
    return this.db
  }
}

/** What a browser offers its tabs: lock manager, channel, localStorage and the spent list, each where it exists. */
export interface BrowserTabs {
  locks?: TabLocks
  channel?: TabChannel
  shared?: SharedStorage
  spent?: SpentStore
}

/** The browser's lock manager, channel, localStorage and spent list (IndexedDB with a localStorage copy). */
export function browserTabs(): BrowserTabs {
  const out: BrowserTabs = {}
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
    // localStorage blocked: no copy of the spent list there
  }
  try {
    const idb = globalThis.indexedDB
    if (idb) out.spent = new IdbSpentList(idb, Date.now, out.shared ? new SpentList(out.shared, Date.now) : undefined)
  } catch {
    // IndexedDB blocked: the localStorage list alone
  }
  return out
}
