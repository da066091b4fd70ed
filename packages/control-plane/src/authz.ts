/**
 * Authorization at the edge of every handler: `authorize(request, s, action, target)` evaluates the matrix
 * for the request's principal. A principal with no binding anywhere on the target's branch gets 404 (it must
 * not learn that the target exists); one that can see it but lacks the action gets 403.
 */
import type { FastifyRequest } from 'fastify'
import type { Located } from './db/scopes.js'
import { forbidden, notFound, unauthenticated } from './errors.js'
import { can, isRelated } from './policy/evaluate.js'
import type { Principal, ScopePath } from './policy/types.js'
import type { Services } from './services.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** what {@link authorize} refused (403): the audit log's `authz.denied` entry names it */
    denied?: { action: string; path: ScopePath }
  }
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthenticated()
  return request.principal
}

export function authorize(request: FastifyRequest, s: Services, action: string, target: Located | undefined, what = 'resource'): Principal {
  const principal = principalOf(request)
  if (!target) throw notFound(what)
  if (can(s.policy, principal, action, target.path)) return principal
  if (!isRelated(principal, target.path)) throw notFound(what)
  request.denied = { action, path: target.path }
  throw forbidden(action)
}

/** Filters a listing down to what the principal may read. */
export function visible<T>(s: Services, principal: Principal, action: string, items: T[], pathOf: (t: T) => ScopePath): T[] {
  return items.filter((item) => can(s.policy, principal, action, pathOf(item)))
}
