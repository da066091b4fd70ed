// Audit entries (docs/audit.md "Entries"): the members, their leaf (RFC 8785 text) and a structural check.
import { canonicalize } from './jcs.js'

/** The `prev` of the entry at seq 0: 64 zeros. */
export const ZERO_HASH = '0'.repeat(64)

export type ActorType = 'user' | 'api_key' | 'worker' | 'service' | 'system' | 'anonymous'
export type AuthMethod = 'session' | 'password' | 'oidc' | 'saml' | 'api_key' | 'worker_token' | 'runtime_token' | 'system'
export type OutcomeStatus = 'ok' | 'denied' | 'error'

export interface AuditEntry {
  v: 1
  chain: string
  seq: number
  time: string
  kind: string
  actor: { type: ActorType; id: string | null; name: string | null; auth: AuthMethod | null }
  sid: string | null
  scope: { tenant: string | null; team: string | null; project: string | null }
  target: { type: string; id: string | null } | null
  outcome: { status: OutcomeStatus; code: string | null }
  request: { id: string | null; trace: string | null; addr: string | null; ua: string | null }
  details: Record<string, unknown>
  prev: string
}

/** The entry's leaf: its RFC 8785 canonical JSON (hash its UTF-8 bytes with leafHash). */
export function entryLeaf(entry: AuditEntry): string {
  return canonicalize(entry)
}

export const CHAIN_ID = /^[A-Za-z0-9._:-]{1,200}$/
export const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const HEX64 = /^[0-9a-f]{64}$/
const ACTOR_TYPES = new Set(['user', 'api_key', 'worker', 'service', 'system', 'anonymous'])
const AUTH = new Set(['session', 'password', 'oidc', 'saml', 'api_key', 'worker_token', 'runtime_token', 'system'])
const STATUS = new Set(['ok', 'denied', 'error'])
export const MAX_STRING_BYTES = 4096
export const MAX_DETAILS_BYTES = 16 * 1024

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function keysAre(o: Record<string, unknown>, keys: string[]): boolean {
  const k = Object.keys(o)
  return k.length === keys.length && keys.every((x) => Object.hasOwn(o, x))
}

function strOrNull(v: unknown): boolean {
  return v === null || (typeof v === 'string' && Buffer.byteLength(v) <= MAX_STRING_BYTES)
}

function str(v: unknown): v is string {
  return typeof v === 'string' && Buffer.byteLength(v) <= MAX_STRING_BYTES
}

const MEMBERS = ['v', 'chain', 'seq', 'time', 'kind', 'actor', 'sid', 'scope', 'target', 'outcome', 'request', 'details', 'prev']

/** Why `e` is not a well-formed entry (the member named), or null when it is. Does not check the chain's links. */
export function entryProblem(e: unknown): string | null {
  if (!isObj(e)) return 'the entry is not a JSON object'
  if (!keysAre(e, MEMBERS)) return `the entry's members are not exactly ${MEMBERS.join(', ')}`
  if (e.v !== 1) return 'v is not 1'
  if (typeof e.chain !== 'string' || !CHAIN_ID.test(e.chain)) return 'chain is not a chain id'
  if (typeof e.seq !== 'number' || !Number.isSafeInteger(e.seq) || e.seq < 0) return 'seq is not a non-negative integer'
  if (typeof e.time !== 'string' || !TIME.test(e.time) || Number.isNaN(Date.parse(e.time))) return 'time is not RFC 3339 UTC with milliseconds'
  if (!str(e.kind) || !/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/.test(e.kind)) return 'kind is not an event kind'
  const a = e.actor
  if (!isObj(a) || !keysAre(a, ['type', 'id', 'name', 'auth'])) return 'actor is not {type, id, name, auth}'
  if (!ACTOR_TYPES.has(a.type as string)) return 'actor.type is not a known actor type'
  if (!strOrNull(a.id) || !strOrNull(a.name)) return 'actor.id or actor.name is not a string or null'
  if (a.auth !== null && !AUTH.has(a.auth as string)) return 'actor.auth is not a known method'
  if (!strOrNull(e.sid)) return 'sid is not a string or null'
  const s = e.scope
  if (!isObj(s) || !keysAre(s, ['tenant', 'team', 'project']) || !strOrNull(s.tenant) || !strOrNull(s.team) || !strOrNull(s.project))
    return 'scope is not {tenant, team, project}'
  const t = e.target
  if (t !== null && (!isObj(t) || !keysAre(t, ['type', 'id']) || !str(t.type) || !strOrNull(t.id))) return 'target is not {type, id} or null'
  const o = e.outcome
  if (!isObj(o) || !keysAre(o, ['status', 'code']) || !STATUS.has(o.status as string) || !strOrNull(o.code)) return 'outcome is not {status, code}'
  const r = e.request
  if (!isObj(r) || !keysAre(r, ['id', 'trace', 'addr', 'ua']) || ![r.id, r.trace, r.addr, r.ua].every(strOrNull)) return 'request is not {id, trace, addr, ua}'
  if (!isObj(e.details)) return 'details is not an object'
  if (Buffer.byteLength(canonicalize(e.details)) > MAX_DETAILS_BYTES) return 'details is larger than 16 KiB'
  if (typeof e.prev !== 'string' || !HEX64.test(e.prev)) return 'prev is not 64 lowercase hex digits'
  return null
}
