/**
 * Recording audit entries (docs/audit.md, Entries). `audit(s, q, request, event)` enqueues one entry into
 * `audit_queue` through `q`: pass the transaction client of the change it records, so both commit or neither does
 * (the sequencer gives it its chain position later). Chains: `control:<tenant id>` for anything scoped to a
 * tenant, `control:system` otherwise.
 *
 * No secret enters an entry: callers name only ids and facts in `details`, and {@link scrub} drops any member
 * whose name looks like a credential (password, secret, token, private key, ...) and bounds every string.
 *
 * @example
 * await s.db.tx(async (c) => {
 *   await c.query('UPDATE tenants SET name = $2 WHERE id = $1', [id, name])
 *   await audit(s, c, request, { kind: 'tenant.update', scope: { tenant: id }, target: { type: 'tenant', id }, details: { name } })
 * })
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Clock } from '../clock.js'
import type { Queryable } from '../db/pool.js'
import { type Principal, type ScopePath, scopeKind } from '../policy/types.js'

export type ActorType = 'user' | 'api_key' | 'worker' | 'service' | 'system' | 'anonymous'
export type ActorAuth = 'session' | 'password' | 'oidc' | 'saml' | 'api_key' | 'worker_token' | 'runtime_token' | 'system' | null

export interface Actor {
  type: ActorType
  id: string | null
  name: string | null
  auth: ActorAuth
}

export interface AuditEvent {
  kind: string
  /** the scope acted in; its tenant picks the chain */
  scope?: ScopePath
  target?: { type: string; id: string | null } | null
  outcome?: { status: 'ok' | 'denied' | 'error'; code: string | null }
  details?: Record<string, unknown>
  /** who acted, when not the request's principal (a sign-in: the user who signed in, or an anonymous caller) */
  actor?: Actor
  /** the session id, when not the principal's (a sign-in: the session it opened) */
  sid?: string | null
  /** record in the system chain although the scope names a tenant (tenant creation, docs/audit.md Chains) */
  system?: boolean
}

/** The entry as queued: everything but `chain`, `seq` and `prev`, which the sequencer adds. */
export interface QueuedEntry {
  v: 1
  time: string
  kind: string
  actor: Actor
  sid: string | null
  scope: { tenant: string | null; team: string | null; project: string | null }
  target: { type: string; id: string | null } | null
  outcome: { status: 'ok' | 'denied' | 'error'; code: string | null }
  request: { id: string | null; trace: string | null; addr: string | null; ua: string | null }
  details: Record<string, unknown>
}

export const MAX_STRING = 4096
export const MAX_DETAILS = 16 * 1024
export const SYSTEM_CHAIN = 'control:system'

/** Member names that are never recorded, whatever their value. */
const SECRET_NAME = /pass(word|phrase)?|secret|token|private|credential|^key$|_key$|key_?material|cookie|authorization|assertion|verifier|^code$/i

export function chainOf(scope: ScopePath | undefined): string {
  return scope?.tenant ? `control:${scope.tenant}` : SYSTEM_CHAIN
}

export function actorOf(p: Principal | undefined): Actor {
  if (!p) return { type: 'anonymous', id: null, name: null, auth: null }
  if (p.kind === 'api_key') return { type: 'api_key', id: p.id, name: null, auth: 'api_key' }
  if (p.kind === 'worker') return { type: 'worker', id: p.id, name: null, auth: 'worker_token' }
  return { type: 'user', id: p.id, name: null, auth: 'session' }
}

function cut(s: string, max = MAX_STRING): string {
  if (Buffer.byteLength(s) <= max) return s
  let out = s.slice(0, max)
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1)
  return out
}

/** Copies `details` without credential-named members, strings cut to 4,096 bytes, at most 16 KiB in all. */
export function scrub(details: Record<string, unknown> | undefined): Record<string, unknown> {
  let truncated = false
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') {
      const c = cut(v)
      if (c !== v) truncated = true
      return c
    }
    if (v === null || typeof v === 'boolean') return v
    if (typeof v === 'number') return Number.isSafeInteger(v) ? v : Number.isFinite(v) ? v : null
    if (depth > 8) {
      truncated = true
      return null
    }
    if (Array.isArray(v)) return v.slice(0, 200).map((x) => walk(x, depth + 1))
    if (typeof v === 'object') {
      const out: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (SECRET_NAME.test(k) || x === undefined) continue
        out[cut(k, 256)] = walk(x, depth + 1)
      }
      return out
    }
    return null
  }
  const out = walk(details ?? {}, 0) as Record<string, unknown>
  if (Buffer.byteLength(JSON.stringify(out)) > MAX_DETAILS) return { truncated: true }
  if (truncated) out.truncated = true
  return out
}

/** The trace id of a W3C `traceparent` header, if well formed. */
function traceOf(request: FastifyRequest | undefined): string | null {
  const tp = request?.headers.traceparent
  const m = typeof tp === 'string' ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(tp) : null
  return m ? m[1]! : null
}

export function buildEntry(request: FastifyRequest | undefined, e: AuditEvent, now: number): QueuedEntry {
  const p = request?.principal
  const ua = request?.headers['user-agent']
  const sid = e.sid !== undefined ? e.sid : (p?.sessionId ?? null)
  const str = (v: string | null | undefined) => (v == null ? null : cut(v))
  return {
    v: 1,
    time: new Date(now).toISOString(),
    kind: e.kind,
    actor: e.actor ? { ...e.actor, id: str(e.actor.id), name: str(e.actor.name) } : actorOf(p),
    sid: str(sid),
    scope: { tenant: e.scope?.tenant ?? null, team: e.scope?.team ?? null, project: e.scope?.project ?? null },
    target: e.target ? { type: cut(e.target.type), id: str(e.target.id) } : null,
    outcome: e.outcome ?? { status: 'ok', code: null },
    request: {
      id: request ? str(String(request.id)) : null,
      trace: traceOf(request),
      addr: request ? str(request.ip) : null,
      ua: typeof ua === 'string' ? cut(ua, 512) : null,
    },
    details: scrub(e.details),
  }
}

/** Enqueues one entry through `q` (the change's transaction, so both commit or neither does). */
export async function audit(s: { clock: Clock }, q: Queryable, request: FastifyRequest | undefined, e: AuditEvent): Promise<void> {
  const entry = buildEntry(request, e, s.clock.now())
  await q.query('INSERT INTO audit_queue (chain, entry) VALUES ($1, $2)', [e.system ? SYSTEM_CHAIN : chainOf(e.scope), JSON.stringify(entry)])
}

/**
 * Writes an `authz.denied` entry for every refused request (403), outside the refused change's transaction (which
 * rolled back): the permission asked for, the route, and the scope of the target where {@link authorize} knew it.
 */
export function installDeniedRecorder(app: FastifyInstance, s: { clock: Clock; db: Queryable }): void {
  app.addHook('onError', async (request, _reply, error) => {
    if ((error as { statusCode?: number; status?: number }).status !== 403) return
    const denied = request.denied
    const code = (error as { code?: string }).code ?? 'forbidden'
    const scope = denied?.path ?? (request.principal?.tenantId ? { tenant: request.principal.tenantId } : {})
    try {
      await audit(s, s.db, request, {
        kind: 'authz.denied',
        scope,
        target: denied ? { type: scopeKind(denied.path), id: denied.path.project ?? denied.path.team ?? denied.path.tenant ?? null } : null,
        outcome: { status: 'denied', code },
        details: { permission: denied?.action ?? null, method: request.method, route: request.routeOptions.url ?? null },
      })
    } catch (err) {
      request.log.error({ err }, 'could not record a denied request in the audit log')
    }
  })
}
