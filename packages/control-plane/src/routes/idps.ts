/**
 * Identity providers of a tenant (OIDC, SAML) and their IdP-group -> role mappings, used for just-in-time
 * provisioning at every SSO login. Secrets (the OIDC client secret) are sealed and never returned. A mapping
 * may only name a role the caller could grant at that scope.
 *
 * Reading needs `idp.read` on the provider's tenant, every change `idp.manage`. A provider the caller cannot
 * see (unknown id, or another tenant's) is 404, whatever the method. Deleting a provider takes its mappings,
 * linked external identities and pending logins with it (FK cascade); the users it provisioned keep their
 * accounts, memberships and role bindings (source `idp:<id>`, never replaced again). A disabled provider
 * refuses every SSO login route and is left out of `GET /v1/auth/providers`.
 *
 * SAML: `signRequests` (sign AuthnRequests with the provider's SP key) is always stored: true unless the
 * create body says false, and true again after a PATCH with null (providers older than the flag were migrated
 * to false); `sloUrl` (the IdP's single-logout endpoint) is optional. The SP signing keys live in their own table
 * (rotation routes in saml-keys.ts) and never appear here.
 */
import type { FastifyInstance } from 'fastify'
import { audit } from '../audit/record.js'
import { authorize } from '../authz.js'
import { locate, locateTenant, type Located } from '../db/scopes.js'
import type { Queryable } from '../db/pool.js'
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
  trustEmail: { type: 'boolean' },
}
/** Where browsers are sent (AuthnRequest, logout messages): an http(s) URL only, never javascript:, data: or file:. */
const browserUrl = { type: 'string', format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://', maxLength: 500 }
const samlConfig = {
  ssoUrl: browserUrl,
  idpEntityId: { type: 'string', minLength: 1, maxLength: 500 },
  idpCertificate: { type: 'string', minLength: 1, maxLength: 20_000 },
  groupsAttribute: { type: 'string', maxLength: 200 },
  signRequests: { type: 'boolean' },
  sloUrl: browserUrl,
  trustEmail: { type: 'boolean' },
}
const OIDC_REQUIRED = ['issuer', 'clientId']
const SAML_REQUIRED = ['ssoUrl', 'idpEntityId', 'idpCertificate']
/** Defaults written into a new provider's configuration (and back by a PATCH with null). */
const DEFAULTS: Record<'oidc' | 'saml', Record<string, unknown>> = { oidc: {}, saml: { signRequests: true } }
/** The field that names who the IdP is: changing it unlinks the provider's external identities. */
const IDENTITY_FIELD = { oidc: 'issuer', saml: 'idpEntityId' } as const

/**
 * A PATCH of a kind's configuration: the create schemas, every field optional; an optional field may be
 * `null` (back to its default). `const: null` first: with type coercion a string schema would take null as "".
 */
function patchOf(fields: Record<string, unknown>, required: string[]) {
  return body(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, required.includes(k) ? v : { anyOf: [{ const: null }, v] }])))
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
    hasClientSecret: { type: 'boolean' },
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
    hasClientSecret: r.secret_enc !== null && r.secret_enc !== undefined,
    loginUrl: `${base}/login`,
    callbackUrl: r.kind === 'oidc' ? `${base}/callback` : `${base}/acs`,
    ...(mappings
      ? {
          mappings: mappings.map((m) => ({
            group: m.idp_group,
            role: m.role,
            ...(m.team_id ? { teamId: m.team_id } : {}),
            ...(m.project_id ? { projectId: m.project_id } : {}),
          })),
        }
      : {}),
  }
}

const uniqueName = (e: { code?: string }): never => {
  if (e.code === '23505') throw conflict('an identity provider with this name exists in this tenant')
  throw e
}

/** The provider and where it sits (its tenant), or undefined; `lock` holds the row for the transaction. */
export async function findIdp(q: Queryable, id: string, lock = false): Promise<{ row: Row; tenant: Located | undefined } | undefined> {
  const { rows } = await q.query(`SELECT * FROM identity_providers WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id])
  return rows[0] ? { row: rows[0], tenant: await locateTenant(q, rows[0].tenant_id) } : undefined
}

const mappingsOf = async (q: Queryable, id: string) =>
  (await q.query('SELECT * FROM group_mappings WHERE provider_id = $1 ORDER BY idp_group, role', [id])).rows

interface PatchBody {
  name?: string
  enabled?: boolean
  clientSecret?: string
  oidc?: Record<string, unknown>
  saml?: Record<string, unknown>
}

export function idpRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['identity providers']
  const what = 'identity provider'
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
            oidc: body(oidcConfig, OIDC_REQUIRED),
            saml: body(samlConfig, SAML_REQUIRED),
          },
          ['kind', 'name'],
        ),
        response: { 201: idpSchema },
      }),
    },
    async (request, reply) => {
      authorize(request, s, 'idp.manage', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const b = request.body
      const given = b.kind === 'oidc' ? b.oidc : b.saml
      if (!given) throw invalid(`${b.kind}: the provider's configuration is required`)
      const config = { ...DEFAULTS[b.kind], ...given }
      if (b.kind === 'oidc' && !b.clientSecret) throw invalid('clientSecret: required for OIDC')
      const secret = b.clientSecret ? s.sealer.seal(b.clientSecret, SECRET_PURPOSE) : null
      const row = await s.db
        .tx(async (c) => {
          // the tenant stays live until the provider exists (a concurrent DELETE of the tenant waits, then deletes it)
          if (!(await locateTenant(c, request.params.tenantId, true))) throw notFound('tenant')
          const { rows } = await c.query('INSERT INTO identity_providers (tenant_id, kind, name, config, secret_enc) VALUES ($1, $2, $3, $4, $5) RETURNING *', [
            request.params.tenantId,
            b.kind,
            b.name,
            config,
            secret,
          ])
          await audit(s, c, request, {
            kind: 'idp.create',
            scope: { tenant: request.params.tenantId },
            target: { type: 'idp', id: rows[0].id },
            details: { protocol: b.kind, name: b.name },
          })
          return rows[0]
        })
        .catch(uniqueName)
      reply.status(201)
      return idpView(s, row, [])
    },
  )

  app.get<{ Params: { tenantId: string } }>(
    '/v1/tenants/:tenantId/idps',
    { schema: spec({ summary: "A tenant's identity providers", tags, params: idParams('tenantId'), response: { 200: list(idpSchema) } }) },
    async (request) => {
      authorize(request, s, 'idp.read', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const { rows } = await s.db.query('SELECT * FROM identity_providers WHERE tenant_id = $1 ORDER BY name', [request.params.tenantId])
      const { rows: maps } = await s.db.query(
        'SELECT g.* FROM group_mappings g JOIN identity_providers i ON i.id = g.provider_id WHERE i.tenant_id = $1 ORDER BY g.idp_group, g.role',
        [request.params.tenantId],
      )
      return {
        items: rows.map((r) =>
          idpView(
            s,
            r,
            maps.filter((m) => m.provider_id === r.id),
          ),
        ),
      }
    },
  )

  app.get<{ Params: { idpId: string } }>(
    '/v1/idps/:idpId',
    {
      schema: spec({
        summary: 'Read an identity provider with its group mappings (never its secret)',
        tags,
        params: idParams('idpId'),
        response: { 200: idpSchema },
      }),
    },
    async (request) => {
      const found = await findIdp(s.db, request.params.idpId)
      authorize(request, s, 'idp.read', found?.tenant, what)
      return idpView(s, found!.row, await mappingsOf(s.db, found!.row.id))
    },
  )

  app.patch<{ Params: { idpId: string }; Body: PatchBody }>(
    '/v1/idps/:idpId',
    {
      schema: spec({
        summary:
          "Change a provider's name, enabled switch, configuration (merged into the kind's: null resets an optional field) or client secret " +
          '(re-sealed, never returned); a new issuer or IdP entity id unlinks its users, who are linked again by e-mail at their next login',
        tags,
        params: idParams('idpId'),
        body: body({
          name,
          enabled: { type: 'boolean' },
          clientSecret: { type: 'string', maxLength: 500 },
          oidc: patchOf(oidcConfig, OIDC_REQUIRED),
          saml: patchOf(samlConfig, SAML_REQUIRED),
        }),
        response: { 200: idpSchema },
      }),
    },
    async (request) => {
      const b = request.body
      return s.db.tx(async (c) => {
        const found = await findIdp(c, request.params.idpId, true)
        authorize(request, s, 'idp.manage', found?.tenant, what)
        const row = found!.row
        const kind = row.kind as 'oidc' | 'saml'
        const other = kind === 'oidc' ? 'saml' : 'oidc'
        if (b[other] !== undefined) throw invalid(`${other}: this provider is ${kind.toUpperCase()} (a provider's kind never changes)`)
        if (b.clientSecret !== undefined && kind !== 'oidc') throw invalid('clientSecret: only OIDC providers have a client secret')
        if (b.clientSecret === '') throw invalid('clientSecret: must not be empty (leave it out to keep the current one)')
        const config: Record<string, unknown> = { ...row.config }
        for (const [k, v] of Object.entries(b[kind] ?? {})) {
          if (v !== null) config[k] = v
          else if (k in DEFAULTS[kind]) config[k] = DEFAULTS[kind][k]
          else delete config[k]
        }
        const { rows } = await c
          .query(
            `UPDATE identity_providers SET name = coalesce($2, name), enabled = coalesce($3, enabled), config = $4,
                    secret_enc = coalesce($5, secret_enc) WHERE id = $1 RETURNING *`,
            [row.id, b.name ?? null, b.enabled ?? null, config, b.clientSecret ? s.sealer.seal(b.clientSecret, SECRET_PURPOSE) : null],
          )
          .catch(uniqueName)
        const field = IDENTITY_FIELD[kind]
        const unlinked = config[field] !== row.config[field]
        if (unlinked) await c.query('DELETE FROM external_identities WHERE provider_id = $1', [row.id])
        const changed = [
          ...(b.name !== undefined ? ['name'] : []),
          ...(b.enabled !== undefined ? ['enabled'] : []),
          ...(b.clientSecret !== undefined ? ['clientSecret'] : []),
          ...Object.keys(b[kind] ?? {}).map((k) => `${kind}.${k}`),
        ]
        await audit(s, c, request, {
          kind: 'idp.update',
          scope: found!.tenant!.path,
          target: { type: 'idp', id: row.id },
          details: { changed, enabled: rows[0].enabled, users_unlinked: unlinked },
        })
        return idpView(s, rows[0], await mappingsOf(c, row.id))
      })
    },
  )

  app.delete<{ Params: { idpId: string } }>(
    '/v1/idps/:idpId',
    {
      schema: spec({
        summary: 'Delete an identity provider with its group mappings; the users it provisioned keep their accounts, memberships and role bindings',
        tags,
        params: idParams('idpId'),
        response: { 204: { type: 'null' } },
      }),
    },
    async (request, reply) => {
      await s.db.tx(async (c) => {
        const found = await findIdp(c, request.params.idpId, true)
        authorize(request, s, 'idp.manage', found?.tenant, what)
        await c.query('DELETE FROM identity_providers WHERE id = $1', [found!.row.id])
        await audit(s, c, request, {
          kind: 'idp.delete',
          scope: found!.tenant!.path,
          target: { type: 'idp', id: found!.row.id },
          details: { protocol: found!.row.kind, name: found!.row.name },
        })
      })
      return reply.status(204).send()
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
              items: body({ group: { type: 'string', minLength: 1, maxLength: 300 }, role: { type: 'string' }, teamId: uuid, projectId: uuid }, [
                'group',
                'role',
              ]),
            },
          },
          ['mappings'],
        ),
        response: { 200: idpSchema },
      }),
    },
    async (request) => {
      return s.db.tx(async (c) => {
        const found = await findIdp(c, request.params.idpId, true)
        const p = authorize(request, s, 'idp.manage', found?.tenant, what)
        const idp = found!.row
        await c.query('DELETE FROM group_mappings WHERE provider_id = $1', [idp.id])
        for (const m of request.body.mappings) {
          // locked FOR SHARE: a concurrent DELETE of the target waits for this mapping and removes it, or wins and is not found
          const target = m.projectId
            ? await locate(c, 'project', m.projectId, true)
            : m.teamId
              ? await locate(c, 'team', m.teamId, true)
              : await locate(c, 'tenant', idp.tenant_id, true)
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
        await audit(s, c, request, {
          kind: 'idp.group_mapping.update',
          scope: found!.tenant!.path,
          target: { type: 'idp', id: idp.id },
          details: {
            mappings: request.body.mappings.length,
            roles: request.body.mappings.map((m) => ({ group: m.group, role: m.role, team: m.teamId ?? null, project: m.projectId ?? null })),
          },
        })
        return idpView(s, idp, await mappingsOf(c, idp.id))
      })
    },
  )
}
