/**
 * Identity providers of a tenant (OIDC, SAML) and their IdP-group -> role mappings, used for just-in-time
 * provisioning at every SSO login. Secrets (the OIDC client secret) are sealed and never returned. A mapping
 * may only name a role the caller could grant at that scope.
 */
import type { FastifyInstance } from 'fastify'
import { authorize } from '../authz.js'
import { locate, locateTenant } from '../db/scopes.js'
import { conflict, forbidden, invalid, notFound } from '../errors.js'
import { canGrant } from '../policy/evaluate.js'
import type { Services } from '../services.js'
import { body, idParams, list, name, obj, spec, uuid } from './schema.js'

export const SECRET_PURPOSE = 'cfp-control/idp-secret'

const oidcConfig = {
  issuer: { type: 'string', format: 'uri', maxLength: 500 },
  clientId: { type: 'string', minLength: 1, maxLength: 300 },
  scopes: { type: 'array', items: { type: 'string', pattern: '^[\\x21-\\x7e]+$' }, maxItems: 20 },
  groupsClaim: { type: 'string', maxLength: 100 },
}
const samlConfig = {
  ssoUrl: { type: 'string', format: 'uri', maxLength: 500 },
  idpEntityId: { type: 'string', minLength: 1, maxLength: 500 },
  idpCertificate: { type: 'string', minLength: 1, maxLength: 20_000 },
  groupsAttribute: { type: 'string', maxLength: 200 },
}
const mappingSchema = obj({ group: { type: 'string' }, role: { type: 'string' }, teamId: uuid, projectId: uuid }, ['group', 'role'])
const idpSchema = obj(
  {
    id: uuid,
    tenantId: uuid,
    kind: { type: 'string' },
    name: { type: 'string' },
    enabled: { type: 'boolean' },
    config: { type: 'object', additionalProperties: true },
    loginUrl: { type: 'string' },
    callbackUrl: { type: 'string' },
    mappings: { type: 'array', items: mappingSchema },
  },
  ['id', 'tenantId', 'kind', 'name', 'enabled', 'config', 'loginUrl', 'callbackUrl'],
)

type Row = Record<string, any>

export function idpView(s: Services, r: Row, mappings?: Row[]) {
  const base = `${s.options.publicUrl}/v1/auth/${r.kind}/${r.id}`
  return {
    id: r.id,
    tenantId: r.tenant_id,
    kind: r.kind,
    name: r.name,
    enabled: r.enabled,
    config: r.config,
    loginUrl: `${base}/login`,
    callbackUrl: r.kind === 'oidc' ? `${base}/callback` : `${base}/acs`,
    ...(mappings
      ? { mappings: mappings.map((m) => ({ group: m.idp_group, role: m.role, ...(m.team_id ? { teamId: m.team_id } : {}), ...(m.project_id ? { projectId: m.project_id } : {}) })) }
      : {}),
  }
}

export function idpRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['identity providers']
  app.post<{ Params: { tenantId: string }; Body: { kind: 'oidc' | 'saml'; name: string; clientSecret?: string; oidc?: Row; saml?: Row } }>(
    '/v1/tenants/:tenantId/idps',
    {
      schema: spec({
        summary: 'Add an OIDC or SAML identity provider to a tenant',
        tags,
        params: idParams('tenantId'),
        body: body(
          {
            kind: { type: 'string', enum: ['oidc', 'saml'] },
            name,
            clientSecret: { type: 'string', maxLength: 500 },
            oidc: body(oidcConfig, ['issuer', 'clientId']),
            saml: body(samlConfig, ['ssoUrl', 'idpEntityId', 'idpCertificate']),
          },
          ['kind', 'name'],
        ),
        response: { 201: idpSchema },
      }),
    },
    async (request, reply) => {
      authorize(request, s, 'idp.manage', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const b = request.body
      const config = b.kind === 'oidc' ? b.oidc : b.saml
      if (!config) throw invalid(`${b.kind}: the provider's configuration is required`)
      if (b.kind === 'oidc' && !b.clientSecret) throw invalid('clientSecret: required for OIDC')
      const secret = b.clientSecret ? s.sealer.seal(b.clientSecret, SECRET_PURPOSE) : null
      const { rows } = await s.db
        .query('INSERT INTO identity_providers (tenant_id, kind, name, config, secret_enc) VALUES ($1, $2, $3, $4, $5) RETURNING *', [
          request.params.tenantId,
          b.kind,
          b.name,
          config,
          secret,
        ])
        .catch((e: { code?: string }) => {
          if (e.code === '23505') throw conflict('an identity provider with this name exists')
          throw e
        })
      reply.status(201)
      return idpView(s, rows[0], [])
    },
  )

  app.get<{ Params: { tenantId: string } }>(
    '/v1/tenants/:tenantId/idps',
    { schema: spec({ summary: "A tenant's identity providers", tags, params: idParams('tenantId'), response: { 200: list(idpSchema) } }) },
    async (request) => {
      authorize(request, s, 'idp.read', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const { rows } = await s.db.query('SELECT * FROM identity_providers WHERE tenant_id = $1 ORDER BY name', [request.params.tenantId])
      const { rows: maps } = await s.db.query(
        'SELECT g.* FROM group_mappings g JOIN identity_providers i ON i.id = g.provider_id WHERE i.tenant_id = $1',
        [request.params.tenantId],
      )
      return { items: rows.map((r) => idpView(s, r, maps.filter((m) => m.provider_id === r.id))) }
    },
  )

  app.put<{ Params: { idpId: string }; Body: { mappings: { group: string; role: string; teamId?: string; projectId?: string }[] } }>(
    '/v1/idps/:idpId/group-mappings',
    {
      schema: spec({
        summary: 'Replace the IdP-group -> role mappings of a provider',
        tags,
        params: idParams('idpId'),
        body: body(
          {
            mappings: {
              type: 'array',
              maxItems: 200,
              items: body({ group: { type: 'string', minLength: 1, maxLength: 300 }, role: { type: 'string' }, teamId: uuid, projectId: uuid }, ['group', 'role']),
            },
          },
          ['mappings'],
        ),
        response: { 200: idpSchema },
      }),
    },
    async (request) => {
      const { rows } = await s.db.query('SELECT * FROM identity_providers WHERE id = $1', [request.params.idpId])
      const idp = rows[0]
      const p = authorize(request, s, 'idp.manage', idp ? await locateTenant(s.db, idp.tenant_id) : undefined, 'identity provider')
      return s.db.tx(async (c) => {
        await c.query('DELETE FROM group_mappings WHERE provider_id = $1', [idp.id])
        for (const m of request.body.mappings) {
          const target = m.projectId ? await locate(c, 'project', m.projectId) : m.teamId ? await locate(c, 'team', m.teamId) : await locate(c, 'tenant', idp.tenant_id)
          if (!target || target.path.tenant !== idp.tenant_id) throw notFound('team or project')
          if (m.projectId && m.teamId && target.path.team !== m.teamId) throw invalid('teamId: the project is in another team')
          const kind = m.projectId ? 'project' : m.teamId ? 'team' : 'tenant'
          if (!s.policy.roles[m.role]?.bindableAt.includes(kind)) throw invalid(`role: ${m.role} cannot be bound at a ${kind}`)
          if (!canGrant(s.policy, p, m.role, target.path)) throw forbidden(`mapping a group to ${m.role}`)
          await c.query('INSERT INTO group_mappings (provider_id, idp_group, role, team_id, project_id) VALUES ($1, $2, $3, $4, $5)', [
            idp.id,
            m.group,
            m.role,
            m.teamId ?? target.path.team ?? null,
            m.projectId ?? null,
          ])
        }
        const { rows: maps } = await c.query('SELECT * FROM group_mappings WHERE provider_id = $1', [idp.id])
        return idpView(s, idp, maps)
      })
    },
  )
}
