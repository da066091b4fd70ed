/**
 * Project API keys and worker tokens: create (the secret is shown once), list (metadata), revoke. An API key's
 * role must be one the creator may grant on the project, and its optional action list must lie within that
 * role's project actions.
 */
import type { FastifyInstance } from 'fastify'
import type { CredentialInfo, CredentialKind } from '../auth/credentials.js'
import { audit } from '../audit/record.js'
import { authorize } from '../authz.js'
import { locateProject } from '../db/scopes.js'
import { forbidden, invalid, notFound } from '../errors.js'
import { canGrant } from '../policy/evaluate.js'
import type { Services } from '../services.js'
import { body, idParams, list, name, obj, spec, timestamp, uuid } from './schema.js'

const nullableTime = { type: ['string', 'null'], format: 'date-time' }
const credentialSchema = obj({
  id: uuid,
  kind: { type: 'string', enum: ['api_key', 'worker'] },
  prefix: { type: 'string' },
  name: { type: 'string' },
  tenantId: uuid,
  teamId: uuid,
  projectId: uuid,
  region: { type: 'string' },
  role: { type: ['string', 'null'] },
  actions: { type: ['array', 'null'], items: { type: 'string' } },
  createdAt: timestamp,
  expiresAt: nullableTime,
  revokedAt: nullableTime,
  lastUsedAt: nullableTime,
})

interface Kind {
  kind: CredentialKind
  path: string
  action: 'apikey' | 'workertoken'
  label: string
  defaultDays: number
}

const KINDS: Kind[] = [
  { kind: 'api_key', path: 'apikeys', action: 'apikey', label: 'API key', defaultDays: 90 },
  { kind: 'worker', path: 'worker-tokens', action: 'workertoken', label: 'worker token', defaultDays: 365 },
]

export function credentialRoutes(app: FastifyInstance, s: Services): void {
  for (const k of KINDS) register(app, s, k)
}

function register(app: FastifyInstance, s: Services, k: Kind): void {
  const tags = ['credentials']
  const createBody =
    k.kind === 'api_key'
      ? body(
          {
            name,
            role: { type: 'string', enum: s.policy.credentials.apiKey.roles },
            actions: { type: 'array', items: { type: 'string' }, uniqueItems: true, maxItems: 64 },
            expiresInDays: { type: 'integer', minimum: 1, maximum: 365 },
          },
          ['name', 'role'],
        )
      : body({ name, expiresInDays: { type: 'integer', minimum: 1, maximum: 365 } }, ['name'])

  app.post<{ Params: { projectId: string }; Body: { name: string; role?: string; actions?: string[]; expiresInDays?: number } }>(
    `/v1/projects/:projectId/${k.path}`,
    {
      schema: spec({
        summary: `Create a ${k.label} bound to the project (the token is returned once)`,
        tags,
        params: idParams('projectId'),
        body: createBody,
        response: { 201: obj({ token: { type: 'string' }, credential: credentialSchema }) },
      }),
    },
    async (request, reply) => {
      const target = await locateProject(s.db, request.params.projectId)
      const p = authorize(request, s, `${k.action}.create`, target, 'project')
      const b = request.body
      if (k.kind === 'api_key') {
        if (!canGrant(s.policy, p, b.role!, target!.path)) throw forbidden(`creating a key with role ${b.role}`)
        const allowed = s.policy.grants[b.role!] ?? {}
        for (const a of b.actions ?? []) {
          if (!allowed[a]?.includes('self')) throw invalid(`actions: ${a} is not an action of ${b.role} on its project`)
        }
      }
      const auditKind = k.kind === 'api_key' ? 'api_key.create' : 'worker_token.create'
      const days = b.expiresInDays ?? k.defaultDays
      const expiresAt = new Date(s.clock.now() + days * 86_400_000)
      const path = target!.path as { tenant: string; team: string; project: string }
      const created = await s.db.tx(async (c) => {
        // the project stays live until the credential exists (a concurrent DELETE waits for it, then revokes it)
        if (!(await locateProject(c, path.project, true))) throw notFound('project')
        const made = await s.credentials.create(c, {
          kind: k.kind,
          project: path,
          name: b.name,
          expiresAt,
          ...(b.role ? { role: b.role } : {}),
          ...(b.actions ? { actions: b.actions } : {}),
          ...(p.kind === 'user' ? { createdBy: p.id } : {}),
        })
        await audit(s, c, request, {
          kind: auditKind,
          scope: path,
          target: { type: auditKind.split('.')[0]!, id: made.info.id },
          details: { name: b.name, prefix: made.info.prefix, role: b.role ?? null, scopes: b.actions ?? null, expires: expiresAt.toISOString() },
        })
        return made
      })
      reply.status(201)
      return { token: created.token, credential: created.info }
    },
  )

  app.get<{ Params: { projectId: string } }>(
    `/v1/projects/:projectId/${k.path}`,
    {
      schema: spec({ summary: `List the project's ${k.label}s (no secrets)`, tags, params: idParams('projectId'), response: { 200: list(credentialSchema) } }),
    },
    async (request) => {
      authorize(request, s, `${k.action}.read`, await locateProject(s.db, request.params.projectId), 'project')
      return { items: await s.credentials.list(request.params.projectId, k.kind) }
    },
  )

  app.delete<{ Params: { projectId: string; credentialId: string } }>(
    `/v1/projects/:projectId/${k.path}/:credentialId`,
    {
      schema: spec({
        summary: `Revoke a ${k.label} (reaches runtimes through the revocation feed)`,
        tags,
        params: idParams('projectId', 'credentialId'),
        response: { 204: { type: 'null' } },
      }),
    },
    async (request, reply) => {
      authorize(request, s, `${k.action}.revoke`, await locateProject(s.db, request.params.projectId), 'project')
      const c: CredentialInfo | undefined = await s.credentials.get(request.params.credentialId)
      if (!c || c.projectId !== request.params.projectId || c.kind !== k.kind) throw notFound(k.label)
      await s.db.tx(async (q) => {
        await s.credentials.revoke(q, c.id, 'revoked')
        const kind = k.kind === 'api_key' ? 'api_key.revoke' : 'worker_token.revoke'
        await audit(s, q, request, {
          kind,
          scope: { tenant: c.tenantId, team: c.teamId, project: c.projectId },
          target: { type: kind.split('.')[0]!, id: c.id },
          details: { name: c.name, prefix: c.prefix, reason: 'revoked' },
        })
      })
      return reply.status(204).send()
    },
  )
}
