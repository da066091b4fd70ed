/**
 * Tabs of one origin sharing a session (session.ts, tabs.ts): a fake control plane that rotates refresh tokens
 * and treats the reuse of a spent one as theft (it revokes the session, like the real one), an origin-wide
 * fake lock, a fake BroadcastChannel whose deliveries can be held back or lost, a shared fake localStorage,
 * and a `sessionStorage` per tab (copied for a duplicated tab).
 */
import { describe, expect, it, vi } from 'vitest'
import { HANDOFF_TIMEOUT_MS, REFRESH_KEY, Session } from './session'
import { IDBFactory } from 'fake-indexeddb'
import {
  IDB_TIMEOUT_MS,
  IdbSpentList,
  parseTabMessage,
  SPENT_DB,
  SPENT_KEY,
  SPENT_MAX,
  SPENT_MAX_AGE_MS,
  SPENT_STORE,
  SpentList,
  type TabChannel,
  type TabLocks,
  type TabMessage,
} from './tabs'

function memoryStorage(from?: Map<string, string>) {
  const m = new Map<string, string>(from)
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k), m }
}
type MemoryStorage = ReturnType<typeof memoryStorage>

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const invalidGrant = () => json(400, { error: { code: 'invalid_grant', message: 'refresh token is invalid, expired, spent or revoked' } })

/** A control plane that rotates refresh tokens: a spent one presented again revokes its session (`refresh_token_reuse`). */
function controlPlane() {
  let n = 0
  let sessions = 0
  const tokens = new Map<string, { session: number; used: boolean }>()
  const accessOf = new Map<string, number>()
  const revoked = new Map<number, string>()
  /** Every refresh token presented to the refresh grant, in order. */
  const presented: string[] = []
  const calls: { tab: string; url: string; body: any }[] = []
  let gate: Promise<void> | undefined
  const issue = (session: number, extra: Record<string, unknown> = {}) => {
    n++
    tokens.set(`rt${n}`, { session, used: false })
    accessOf.set(`at${n}`, session)
    return json(200, { access_token: `at${n}`, token_type: 'Bearer', expires_in: 900, refresh_token: `rt${n}`, region: 'local', ...extra })
  }
  const handle = async (tab: string, input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input)
    const body = init?.body ? JSON.parse(String(init.body)) : undefined
    calls.push({ tab, url, body })
    await new Promise((r) => setTimeout(r, 1))
    if (url === '/v1/auth/token') await gate
    if (url === '/v1/auth/login') return issue(++sessions)
    if (url === '/v1/auth/token') {
      presented.push(body.refresh_token)
      const t = tokens.get(body.refresh_token)
      if (!t || revoked.has(t.session)) return invalidGrant()
      if (t.used) {
        revoked.set(t.session, 'refresh_token_reuse')
        return invalidGrant()
      }
      t.used = true
      return issue(t.session, body.region ? { region: body.region } : {})
    }
    if (url === '/v1/tokens/runtime')
      return json(200, { access_token: `runtime-${body.region ?? 'own'}-${++n}`, token_type: 'Bearer', expires_in: 300, region: body.region ?? 'local' })
    if (url === '/v1/auth/logout') {
      const session = accessOf.get(String(new Headers(init?.headers).get('authorization')).replace('Bearer ', ''))
      if (session !== undefined && !revoked.has(session)) revoked.set(session, 'logout')
      return json(200, {})
    }
    if (url === '/v1/auth/revoke') {
      const t = tokens.get(body.token)
      if (t && !revoked.has(t.session)) revoked.set(t.session, 'revoked')
      return json(200, {})
    }
    return json(404, { error: { code: 'not_found', message: url } })
  }
  const fetchFor = (tab: string) => vi.fn((i: RequestInfo | URL, init?: RequestInit) => handle(tab, i, init)) as unknown as typeof fetch
  /** Refresh grants wait (after being received) until the returned function is called. */
  const holdGrants = () => {
    let release = () => undefined as void
    gate = new Promise<void>((r) => (release = r))
    return () => {
      gate = undefined
      release()
    }
  }
  return { fetchFor, presented, calls, revoked, holdGrants, tokenCalls: (tab: string) => calls.filter((c) => c.tab === tab && c.url === '/v1/auth/token') }
}

/** One lock for the whole origin, FIFO like `navigator.locks`; records how many holders there ever were at once. */
function fakeLocks(): TabLocks & { names: Set<string>; maxHeld: number } {
  let tail: Promise<unknown> = Promise.resolve()
  let held = 0
  const locks = {
    names: new Set<string>(),
    maxHeld: 0,
    request<T>(name: string, fn: () => Promise<T>): Promise<T> {
      locks.names.add(name)
      const run = async () => {
        locks.maxHeld = Math.max(locks.maxHeld, ++held)
        try {
          return await fn()
        } finally {
          held--
        }
      }
      const result = tail.then(run, run)
      tail = result.catch(() => undefined)
      return result
    },
  }
  return locks
}

type FakeChannel = TabChannel & { deaf: boolean; sent: TabMessage[] }

/** BroadcastChannel between the tabs: asynchronous delivery to every other open channel; `hold` queues, `drop` loses. */
function channelHub() {
  const open = new Set<FakeChannel & { receive(data: unknown): void }>()
  let held: (() => void)[] | undefined
  const hub = {
    channel(): FakeChannel {
      const listeners: ((e: { data: unknown }) => void)[] = []
      const ch = {
        deaf: false,
        sent: [] as TabMessage[],
        postMessage(m: TabMessage) {
          if (!open.has(ch)) throw new Error('InvalidStateError: the channel is closed')
          ch.sent.push(m)
          for (const other of open) {
            if (other === ch) continue
            const data = structuredClone(m)
            const deliver = () => other.receive(data)
            if (held) held.push(deliver)
            else setTimeout(deliver, 0)
          }
        },
        addEventListener: (_type: 'message', l: (e: { data: unknown }) => void) => void listeners.push(l),
        close: () => void open.delete(ch),
        receive(data: unknown) {
          if (open.has(ch) && !ch.deaf) for (const l of listeners) l({ data })
        },
      }
      open.add(ch)
      return ch
    },
    hold: () => void (held = []),
    /** Delivers what was held, in order, and stops holding. */
    flush() {
      const q = held ?? []
      held = undefined
      for (const d of q) d()
    },
    /** Loses what was held and stops holding. */
    drop: () => void (held = undefined),
  }
  return hub
}

interface Tab {
  name: string
  s: Session
  storage: MemoryStorage
  channel: FakeChannel | undefined
  timers: { fn: () => void; ms: number }[]
  /** Session events: the state, or the reason it ended with. */
  events: string[]
}

/** A browser with an origin's tabs: open one fresh, or duplicate one (its sessionStorage is copied). */
function browser(opts: { locks?: boolean; channel?: boolean; shared?: boolean; staleLocal?: boolean; idb?: boolean } = {}) {
  const server = controlPlane()
  const locks = opts.locks === false ? undefined : fakeLocks()
  const hub = channelHub()
  const local = memoryStorage()
  const idb = opts.idb ? new IDBFactory() : undefined
  let count = 0
  const open = (storage = memoryStorage()): Tab => {
    // `staleLocal`: each tab reads its own copy of localStorage that the other tabs' writes have not reached yet
    // (Chrome's per-process cache, at its worst)
    const view = opts.staleLocal ? memoryStorage() : local
    const copy = new SpentList(view, () => 1_000_000)
    const name = `tab${++count}`
    const timers: { fn: () => void; ms: number }[] = []
    const channel = opts.channel === false ? undefined : hub.channel()
    const s = new Session({
      fetch: server.fetchFor(name),
      storage,
      now: () => 1_000_000,
      setTimer: (fn, ms) => {
        timers.push({ fn, ms })
        return timers.length as unknown as ReturnType<typeof setTimeout>
      },
      clearTimer: () => undefined,
      ...(locks ? { locks } : {}),
      ...(channel ? { channel } : {}),
      ...(opts.shared === false ? {} : { shared: view }),
      ...(idb ? { spent: new IdbSpentList(idb, () => 1_000_000, copy) } : {}),
    })
    const events: string[] = []
    s.subscribe((e) => events.push(e.reason?.code ?? e.state))
    return { name, s, storage, channel, timers, events }
  }
  return { server, locks, hub, local, open, duplicate: (t: Tab) => open(memoryStorage(t.storage.m)) }
}

const stored = (t: Tab) => t.storage.m.get(REFRESH_KEY)
const noneTwice = (presented: string[]) => expect(presented.filter((t, i) => presented.indexOf(t) !== i)).toEqual([])

describe('tabs sharing a session', () => {
  it('a duplicated tab resumes (rotating); the original then presents the successor it was told about, never the spent token', async () => {
    const b = browser()
    const a = b.open()
    await a.s.login('root@x.dev', 'pw')
    const dup = b.duplicate(a)
    expect(stored(dup)).toBe('rt1')
    expect(await dup.s.resume()).toBe(true)
    await vi.waitFor(() => expect(stored(a)).toBe('rt2'))
    expect(await a.s.refresh()).toBe('at3')
    await vi.waitFor(() => expect(stored(dup)).toBe('rt3'))
    expect(b.server.presented).toEqual(['rt1', 'rt2'])
    expect(b.server.revoked.size).toBe(0)
    expect([a.s.state, dup.s.state]).toEqual(['signed-in', 'signed-in'])
    expect(b.locks!.names).toEqual(new Set(['cfp.session.refresh']))
    // localStorage holds hashes of the spent tokens, never a token
    const spent = JSON.parse(b.local.m.get(SPENT_KEY)!) as { h: string }[]
    expect(spent.map((e) => e.h)).toHaveLength(2)
    for (const e of spent) expect(e.h).toMatch(/^[0-9a-f]{64}$/)
    expect([...b.local.m.values()].join()).not.toMatch(/rt\d|at\d/)
  })

  it('tabs refreshing at once rotate one at a time: no token is ever presented twice and all end with the same one', async () => {
    const b = browser()
    const a = b.open()
    await a.s.login('root@x.dev', 'pw')
    const tabs = [a, b.duplicate(a), b.duplicate(a)]
    const tokens = await Promise.all(tabs.flatMap((t) => [t.s.refresh(), t.s.accessToken()]))
    expect(tokens.every((t) => /^at\d+$/.test(t ?? ''))).toBe(true)
    expect(b.server.presented).toHaveLength(3) // one grant per tab; concurrent callers in a tab share it
    noneTwice(b.server.presented)
    expect(b.server.revoked.size).toBe(0)
    expect(b.locks!.maxHeld).toBe(1)
    await vi.waitFor(() => expect(new Set(tabs.map(stored))).toEqual(new Set(['rt4'])))
    expect(tabs.map((t) => t.s.state)).toEqual(['signed-in', 'signed-in', 'signed-in'])
  })

  it('a tab that takes the lock before the rotation reached it finds the spent hash, waits for the successor and presents that', async () => {
    const b = browser()
    const a = b.open()
    await a.s.login('root@x.dev', 'pw')
    const dup = b.duplicate(a)
    b.hub.hold() // the broadcast is slow
    await a.s.refresh()
    expect(stored(dup)).toBe('rt1')
    const pending = dup.s.refresh()
    await vi.waitFor(() => expect(dup.timers.some((t) => t.ms === HANDOFF_TIMEOUT_MS)).toBe(true))
    expect(dup.channel!.sent).toEqual([{ type: 'need', spent: 'rt1' }])
    expect(b.server.presented).toEqual(['rt1']) // it did not present the spent token
    b.hub.flush()
    expect(await pending).toBe('at3')
    expect(b.server.presented).toEqual(['rt1', 'rt2'])
    await vi.waitFor(() => expect(stored(a)).toBe('rt3'))
    expect(b.server.revoked.size).toBe(0)
    expect(dup.events).toEqual(['signed-in'])
  })

  it('the spent list is read through IndexedDB: a tab whose localStorage has not seen the other tab’s write still finds the hash', async () => {
    const run = async (idb: boolean) => {
      const b = browser({ staleLocal: true, idb })
      const a = b.open()
      await a.s.login('root@x.dev', 'pw')
      const dup = b.duplicate(a)
      b.hub.hold() // the broadcast is slow too: the list is all the next tab has
      await a.s.refresh()
      const pending = dup.s.refresh().catch((e: unknown) => e)
      await vi.waitFor(() => expect(b.server.presented.length > 1 || dup.timers.some((t) => t.ms === HANDOFF_TIMEOUT_MS)).toBe(true))
      b.hub.flush()
      await pending
      return b.server
    }
    // localStorage alone, read stale: the duplicate presents the spent token and the server ends the session
    const stale = await run(false)
    expect(stale.presented).toEqual(['rt1', 'rt1'])
    expect(stale.revoked.size).toBeGreaterThan(0)
    // with IndexedDB it waits for the successor instead
    const fixed = await run(true)
    expect(fixed.presented).toEqual(['rt1', 'rt2'])
    expect(fixed.revoked.size).toBe(0)
  })

  it('a tab that missed a rotation (asleep) asks for its successor and gets it from a tab that held its token', async () => {
    const b = browser()
    const a = b.open()
    await a.s.login('root@x.dev', 'pw')
    const dup = b.duplicate(a)
    dup.channel!.deaf = true
    await a.s.refresh()
    await a.s.refresh()
    await new Promise((r) => setTimeout(r, 5))
    dup.channel!.deaf = false
    expect(stored(dup)).toBe('rt1')
    expect(await dup.s.refresh()).toBe('at4')
    expect(b.server.presented).toEqual(['rt1', 'rt2', 'rt3'])
    expect(a.channel!.sent).toContainEqual({ type: 'rotated', previous: 'rt1', next: 'rt3' })
    await vi.waitFor(() => expect(stored(a)).toBe('rt4'))
    expect(b.server.revoked.size).toBe(0)
  })

  it('without a successor within the hand-over time, a tab ends only its own session, locally, without calling the server', async () => {
    const b = browser()
    const a = b.open()
    await a.s.login('root@x.dev', 'pw')
    const dup = b.duplicate(a)
    expect(dup.s.canResume()).toBe(true)
    b.hub.hold()
    await a.s.refresh()
    a.s.dispose() // the tab is closed before its broadcast went out
    b.hub.drop()
    const pending = dup.s.resume()
    await vi.waitFor(() => expect(dup.timers.some((t) => t.ms === HANDOFF_TIMEOUT_MS)).toBe(true))
    dup.timers.find((t) => t.ms === HANDOFF_TIMEOUT_MS)!.fn()
    expect(await pending).toBe(false)
    expect(dup.events).toEqual(['session_moved'])
    expect(stored(dup)).toBeUndefined()
    expect(b.server.tokenCalls(dup.name)).toEqual([])
    expect(b.server.revoked.size).toBe(0) // the session goes on (in the closed tab's successor)
  })

  it('logging out ends every tab that held a token of the session at once, locally, and no tab of another session', async () => {
    const b = browser()
    const a = b.open()
    await a.s.login('root@x.dev', 'pw')
    const stale = b.duplicate(a) // never refreshed, not told of rotations: still holds rt1
    stale.channel!.deaf = true
    expect(stale.s.canResume()).toBe(true)
    const dup = b.duplicate(a)
    await dup.s.resume()
    await vi.waitFor(() => expect(stored(a)).toBe('rt2'))
    const other = b.open()
    await other.s.login('ann@x.dev', 'pw') // a second sign-in: another session
    stale.channel!.deaf = false

    await a.s.logout()
    await vi.waitFor(() => expect(dup.events).toEqual(['signed-in', 'signed_out_elsewhere']))
    await vi.waitFor(() => expect(stored(stale)).toBeUndefined())
    expect(stored(dup)).toBeUndefined()
    expect(dup.s.state).toBe('anonymous')
    expect(await dup.s.accessToken()).toBeUndefined()
    expect(other.s.state).toBe('signed-in')
    expect(stored(other)).toBe('rt3')
    expect(b.server.revoked).toEqual(new Map([[1, 'logout']]))
    // the other tabs called nothing to end theirs
    expect(b.server.calls.filter((c) => c.tab !== a.name && c.url !== '/v1/auth/token' && c.url !== '/v1/auth/login')).toEqual([])
    expect(b.server.calls.filter((c) => c.tab === a.name).map((c) => c.url)).toEqual(['/v1/auth/login', '/v1/auth/logout', '/v1/auth/revoke'])
  })

  it('runtime tokens come by exchange and spend no refresh token, whatever the other tabs do', async () => {
    const b = browser()
    const a = b.open()
    await a.s.login('root@x.dev', 'pw')
    const dup = b.duplicate(a)
    const [eu, again, own] = await Promise.all([a.s.runtimeTokenFor('eu'), a.s.runtimeTokenFor('eu'), dup.s.refresh()])
    expect(eu).toBe(again)
    expect(eu).toMatch(/^runtime-eu-/)
    expect(own).toMatch(/^at\d$/)
    expect(b.server.tokenCalls(a.name)).toEqual([])
    noneTwice(b.server.presented)
    expect(b.server.revoked.size).toBe(0)
    expect(await a.s.accessToken()).toBe('at1') // the session's own token is unchanged
  })

  it('an ended tab still announces a rotation the server made, so the others do not present the spent token', async () => {
    const b = browser()
    const a = b.open()
    await a.s.login('root@x.dev', 'pw')
    const dup = b.duplicate(a)
    const release = b.server.holdGrants()
    const pending = a.s.refresh()
    await vi.waitFor(() => expect(b.server.tokenCalls(a.name)).toHaveLength(1))
    a.s.end() // e.g. a 401 elsewhere on the page, while the grant is in flight
    release()
    await expect(pending).rejects.toMatchObject({ code: 'unauthenticated' })
    expect(stored(a)).toBeUndefined()
    await vi.waitFor(() => expect(stored(dup)).toBe('rt2'))
    expect(await dup.s.refresh()).toBe('at3')
    noneTwice(b.server.presented)
  })

  it('a failing lock manager falls back to this tab’s own queue', async () => {
    const server = controlPlane()
    const storage = memoryStorage()
    const locks: TabLocks = { request: () => Promise.reject(new Error('SecurityError')) }
    const s = new Session({
      fetch: server.fetchFor('t'),
      storage,
      locks,
      setTimer: () => 0 as unknown as ReturnType<typeof setTimeout>,
      clearTimer: () => undefined,
    })
    await s.login('root@x.dev', 'pw')
    expect(await Promise.all([s.refresh(), s.refresh()])).toEqual(['at2', 'at2'])
    expect(server.presented).toEqual(['rt1'])
  })
})

describe('without Web Locks, BroadcastChannel and localStorage', () => {
  it('behaves as one tab alone: single-flight within the tab, and a duplicated tab that refreshes second presents a spent token', async () => {
    const b = browser({ locks: false, channel: false, shared: false })
    const a = b.open()
    await a.s.login('root@x.dev', 'pw')
    const dup = b.duplicate(a)
    expect(await Promise.all([dup.s.refresh(), dup.s.refresh(), dup.s.accessToken()])).toEqual(['at2', 'at2', 'at2'])
    expect(stored(a)).toBe('rt1') // not told
    await expect(a.s.refresh()).rejects.toMatchObject({ code: 'invalid_grant' })
    expect(b.server.presented).toEqual(['rt1', 'rt1'])
    expect(b.server.revoked).toEqual(new Map([[1, 'refresh_token_reuse']]))
    expect(a.events).toEqual(['signed-in', 'invalid_grant'])
    expect(b.local.m.size).toBe(0)
  })
})

describe('tab messages and the spent list', () => {
  it('accepts only well-formed messages', () => {
    expect(parseTabMessage({ type: 'rotated', previous: 'a', next: 'b' })).toEqual({ type: 'rotated', previous: 'a', next: 'b' })
    expect(parseTabMessage({ type: 'logout', tokens: ['a'] })).toEqual({ type: 'logout', tokens: ['a'] })
    for (const junk of [null, 'rotated', { type: 'rotated', previous: 'a' }, { type: 'need', spent: 1 }, { type: 'logout', tokens: [1] }, { type: 'x' }]) {
      expect(parseTabMessage(junk)).toBeUndefined()
    }
  })

  it('keeps the newest hashes, none older than the maximum age, and survives garbage', async () => {
    let now = 0
    const storage = memoryStorage()
    const list = new SpentList(storage, () => now)
    const hash = (i: number) => i.toString(16).padStart(64, '0')
    await list.add(hash(0))
    now = SPENT_MAX_AGE_MS + 1
    expect(await list.has(hash(0))).toBe(false)
    for (let i = 1; i <= SPENT_MAX + 5; i++) await list.add(hash(i))
    expect(await list.has(hash(5))).toBe(false)
    expect(await list.has(hash(6))).toBe(true)
    expect(JSON.parse(storage.m.get(SPENT_KEY)!)).toHaveLength(SPENT_MAX)
    storage.setItem(SPENT_KEY, '{not json')
    expect(await list.has(hash(6))).toBe(false)
    await list.add(hash(7))
    expect(await list.has(hash(7))).toBe(true)
  })

  it('in IndexedDB: a hash added through one connection is seen through another at once; old and surplus ones go', async () => {
    let now = 0
    const idb = new IDBFactory()
    const writer = new IdbSpentList(idb, () => now)
    const reader = new IdbSpentList(idb, () => now) // another tab: its own connection, no localStorage copy
    const hash = (i: number) => i.toString(16).padStart(64, '0')
    expect(await reader.has(hash(0))).toBe(false)
    await writer.add(hash(0))
    expect(await reader.has(hash(0))).toBe(true)
    now = SPENT_MAX_AGE_MS + 1
    expect(await reader.has(hash(0))).toBe(false)
    for (let i = 1; i <= SPENT_MAX + 5; i++) {
      now++
      await writer.add(hash(i))
    }
    expect(await reader.has(hash(5))).toBe(false)
    expect(await reader.has(hash(6))).toBe(true)
    expect(await reader.has(hash(SPENT_MAX + 5))).toBe(true)
    const count = await new Promise<number>((resolve, reject) => {
      const open = idb.open(SPENT_DB)
      open.onerror = () => reject(open.error)
      open.onsuccess = () => {
        const req = open.result.transaction(SPENT_STORE).objectStore(SPENT_STORE).count()
        req.onsuccess = () => resolve(req.result)
      }
    })
    expect(count).toBe(SPENT_MAX)
  })

  it('in IndexedDB with a localStorage copy: written to both, either one is enough to refuse, a broken IndexedDB is survived', async () => {
    const storage = memoryStorage()
    const copy = new SpentList(storage, () => 0)
    const both = new IdbSpentList(new IDBFactory(), () => 0, copy)
    const hash = 'a'.repeat(64)
    await both.add(hash)
    expect(await copy.has(hash)).toBe(true)
    // an IndexedDB whose open fails (a private window of some browsers): the copy still answers, nothing throws
    const broken = {
      open: () => {
        throw new Error('blocked')
      },
    } as unknown as IDBFactory
    const fallback = new IdbSpentList(broken, () => 0, copy)
    expect(await fallback.has(hash)).toBe(true)
    await fallback.add('b'.repeat(64))
    expect(await copy.has('b'.repeat(64))).toBe(true)
    expect(await new IdbSpentList(broken, () => 0).has(hash)).toBe(false)
    // one whose open never answers: the first call gives up after IDB_TIMEOUT_MS rather than holding the lock,
    // and later ones do not wait again
    const hung = new IdbSpentList({ open: () => ({}) } as unknown as IDBFactory, () => 0, copy)
    let started = Date.now()
    await hung.add('c'.repeat(64))
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDB_TIMEOUT_MS - 50)
    started = Date.now()
    expect(await hung.has('c'.repeat(64))).toBe(true)
    expect(await hung.has('d'.repeat(64))).toBe(false)
    await hung.add('d'.repeat(64))
    expect(Date.now() - started).toBeLessThan(IDB_TIMEOUT_MS / 2)
    expect(await copy.has('d'.repeat(64))).toBe(true)
  })
})
