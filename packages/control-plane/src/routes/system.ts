/** System-wide routes: key rotation, the user directory, and `POST /v1/authz/check` (what may I do here?). */
import type { FastifyInstance } from 'fastify'
import { audit } from '../audit/record.js'
import { authorize, principalOf } from '../authz.js'
import { locate } from '../db/scopes.js'
import { can } from '../policy/evaluate.js'
import type { Services } from '../services.js'
import { body, list, obj, scopeSchema, spec, timestamp, uuid } from './schema.js'
import type { ScopeKind } from '../policy/types.js'

export function systemRoutes(app: FastifyInstance, s: Services): void {
  app.post<{ Body: { prepublishSeconds?: number } }>(
    '/v1/system/keys/rotate',
    {
      schema: spec({
        summary: 'Rotate the token-signing key (the new key is published at once and signs after prepublishSeconds)',
        tags: ['system'],
        body: body({ prepublishSeconds: { type: 'integer', minimum: 0, maximum: 86_400 } }),
        response: { 200: obj({ kid: { type: 'string' }, notBefore: timestamp }) },
      }),
    },
    async (request) => {
      authorize(request, s, 'keys.rotate', await locate(s.db, 'system'))
      const r = await s.keys.rotate(request.body?.prepublishSeconds, (c, kid) =>
        audit(s, c, request, { kind: 'signing_key.rotate', target: { type: 'signing_key', id: kid }, details: { kid, scheduled: false } }),
      )
      return { kid: r.kid, notBefore: r.notBefore.toISOString() }
    },
  )

  app.get(
    '/v1/users',
    {
      schema: spec({
        summary: 'Every user of the installation',
        tags: ['system'],
        response: { 200: list(obj({ id: uuid, email: { type: 'string' }, displayName: { type: 'string' }, disabled: { type: 'boolean' } })) },
      }),
    },
    async (request) => {
      authorize(request, s, 'user.read', await locate(s.db, 'system'))
      const { rows } = await s.db.query('SELECT id, email, display_name, disabled_at FROM users ORDER BY lower(email)')
      return { items: rows.map((r) => ({ id: r.id, email: r.email, displayName: r.display_name, disabled: r.disabled_at !== null })) }
    },
  )

  app.post<{ Body: { action: string; scope: { kind: ScopeKind; id?: string } } }>(
    '/v1/authz/check',
    {
      schema: spec({
        summary: 'May the caller perform an action on a target? (for UIs, and to test runtime actions)',
        tags: ['authz'],
        body: body({ action: { type: 'string', maxLength: 64 }, scope: scopeSchema }, ['action', 'scope']),
        response: { 200: obj({ allowed: { type: 'boolean' } }) },
      }),
    },
    async (request) => {
      const p = principalOf(request)
      const target = await locate(s.db, request.body.scope.kind, request.body.scope.id)
      return { allowed: target !== undefined && can(s.policy, p, request.body.action, target.path) }
    },
  )
}
