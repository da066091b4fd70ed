/**
 * Settings the runtime of the tenant's region enforces: limits at tenant and project scope (FR-6; a project
 * never exceeds its tenant), the project's CORS allowlist (FR-5; never `*` with credentials), strict input
 * validation (FR-8), the dev/diagnostic endpoint switches (FR-4) and the project's own OIDC provider whose
 * end-user JWTs its API steps accept (`auth.oidc`). Each change bumps a global `version` that runtimes sync on
 * (`GET /v1/service/projects`).
 */
import type { FastifyInstance } from 'fastify'
import { audit } from '../audit/record.js'
import { authorize } from '../authz.js'
import { locateProject, locateTenant } from '../db/scopes.js'
import { invalid } from '../errors.js'
import type { Services } from '../services.js'
import { body, idParams, obj, spec } from './schema.js'

export interface Limits {
  maxBodyBytes?: number
  requestTimeoutMs?: number
  /** API-step requests in flight at once (429 `limit_exceeded` naming `maxConcurrentRequests` beyond). */
  maxConcurrentRequests?: number
  /** Step executions in flight at once: API calls plus queue deliveries (API calls get 429 beyond; deliveries wait). */
  maxConcurrentExecutions?: number
}

const limitsProps = {
  maxBodyBytes: { type: 'integer', minimum: 1, maximum: 104_857_600 },
  requestTimeoutMs: { type: 'integer', minimum: 100, maximum: 900_000 },
  maxConcurrentRequests: { type: 'integer', minimum: 1, maximum: 100_000 },
  maxConcurrentExecutions: { type: 'integer', minimum: 1, maximum: 100_000 },
}
export const limitsSchema = { type: 'object', properties: limitsProps } as const
const corsProps = {
  allowedOrigins: { type: 'array', maxItems: 100, uniqueItems: true, items: { type: 'string', maxLength: 300 } },
  allowCredentials: { type: 'boolean' },
}
/** The project's own OIDC provider (Auth0, Okta, Keycloak, Google…) whose JWTs end users call API steps with. */
export interface ProjectOidc {
  issuer: string
  audience: string
  jwksUrl: string
}
const url = { type: 'string', minLength: 1, maxLength: 500 } as const
const oidcProps = { issuer: url, audience: { type: 'string', minLength: 1, maxLength: 500 }, jwksUrl: url }
const oidcObject = { type: 'object', additionalProperties: false, required: Object.keys(oidcProps), properties: oidcProps } as const
/** `null` = no end-user tokens accepted. `const: null`, not `type: 'null'`: type coercion would turn `""`, `0` or `false` into null. */
const oidcInput = { anyOf: [oidcObject, { const: null }] } as const
export const authSchema = obj({ oidc: { ...oidcObject, type: ['object', 'null'] } })
const diagProps = { emit: { type: 'boolean' }, stateWrite: { type: 'boolean' }, dlqReplay: { type: 'boolean' }, stepSource: { type: 'boolean' } }
export const projectSettingsSchema = obj({
  projectId: { type: 'string' },
  limits: limitsSchema,
  effectiveLimits: limitsSchema,
  cors: obj(corsProps),
  validation: obj({ strict: { type: 'boolean' } }),
  diagnostics: obj(diagProps),
  auth: authSchema,
  version: { type: 'integer' },
})

function isLoopback(u: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)
}

/** https URLs only; plain http only on loopback and only with `--allow-loopback-idp` (tests, local IdPs). */
export function checkOidc(oidc: ProjectOidc | null, allowLoopback: boolean): void {
  if (oidc === null) return
  for (const field of ['issuer', 'jwksUrl'] as const) {
    const value = oidc[field]
    let u: URL
    try {
      u = new URL(value)
    } catch {
      throw invalid(`oidc.${field}: "${value}" is not a URL like https://idp.example.com/`)
    }
    if (u.username || u.password || u.hash) throw invalid(`oidc.${field}: no credentials or fragment allowed in the URL`)
    const http = u.protocol === 'http:' && isLoopback(u) && allowLoopback
    if (u.protocol !== 'https:' && !http) {
      throw invalid(`oidc.${field}: must be an https URL (plain http only on loopback, with --allow-loopback-idp)`)
    }
  }
  if (!oidc.audience.trim()) throw invalid('oidc.audience: must not be blank')
}

export function checkOrigins(origins: string[], credentials: boolean): void {
  for (const o of origins) {
    if (o === '*') {
      if (credentials) throw invalid('allowedOrigins: "*" cannot be combined with allowCredentials')
      continue
    }
    let u: URL
    try {
      u = new URL(o)
    } catch {
      throw invalid(`allowedOrigins: "${o}" is not an origin like https://app.example.com`)
    }
    if (!['http:', 'https:'].includes(u.protocol) || u.origin !== o) {
      throw invalid(`allowedOrigins: "${o}" is not an origin like https://app.example.com (no path, no trailing slash)`)
    }
  }
}

/** What a project gets: the least of its own limit, its tenant's and the platform's ceiling (when one is given). */
export function effectiveLimits(tenant: Limits, project: Limits, ceilings: Limits = {}): Limits {
  const out: Limits = {}
  for (const k of Object.keys(limitsProps) as (keyof Limits)[]) {
    const vals = [tenant[k], project[k]].filter((v): v is number => typeof v === 'number')
    if (vals.length) out[k] = Math.min(...vals, ...(typeof ceilings[k] === 'number' ? [ceilings[k]] : []))
  }
  return out
}

const CEILING_FLAGS: Record<keyof Limits, string> = {
  maxBodyBytes: '--ceiling-body-bytes',
  requestTimeoutMs: '--ceiling-request-timeout-ms',
  maxConcurrentRequests: '--ceiling-concurrent-requests',
  maxConcurrentExecutions: '--ceiling-concurrent-executions',
}

/** Refuses a limit above the platform's ceiling, naming it: no tenant or project admin raises it. */
export function checkCeilings(limits: Limits, ceilings: Limits): void {
  for (const k of Object.keys(limits) as (keyof Limits)[]) {
    const max = ceilings[k]
    const value = limits[k]
    if (typeof max === 'number' && typeof value === 'number' && value > max) {
      throw invalid(`${k}: the platform allows at most ${max} (the operator's ${CEILING_FLAGS[k]})`)
    }
  }
}

export async function readProjectSettings(s: Services, projectId: string) {
  const { rows } = await s.db.query(
    `SELECT ps.*, ts.limits AS tenant_limits FROM project_settings ps JOIN projects p ON p.id = ps.project_id
       JOIN tenant_settings ts ON ts.tenant_id = p.tenant_id WHERE ps.project_id = $1`,
    [projectId],
  )
  const r = rows[0]
  return {
    projectId,
    limits: r.limits,
    effectiveLimits: effectiveLimits(r.tenant_limits, r.limits, s.options.limitCeilings),
    cors: r.cors,
    validation: r.validation,
    diagnostics: r.diagnostics,
    auth: { oidc: r.auth?.oidc ?? null },
    version: Number(r.version),
  }
}

export function settingsRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['settings']
  app.get<{ Params: { tenantId: string } }>(
    '/v1/tenants/:tenantId/limits',
    { schema: spec({ summary: "A tenant's limits", tags, params: idParams('tenantId'), response: { 200: limitsSchema } }) },
    async (request) => {
      authorize(request, s, 'tenant.read', await locateTenant(s.db, request.params.tenantId), 'tenant')
      const { rows } = await s.db.query('SELECT limits FROM tenant_settings WHERE tenant_id = $1', [request.params.tenantId])
      return rows[0].limits
    },
  )

  app.put<{ Params: { tenantId: string }; Body: Limits }>(
    '/v1/tenants/:tenantId/limits',
    {
      schema: spec({ summary: "Set a tenant's limits", tags, params: idParams('tenantId'), body: body(limitsProps), response: { 200: limitsSchema } }),
    },
    async (request) => {
      const tenantId = request.params.tenantId
      authorize(request, s, 'limits.update', await locateTenant(s.db, tenantId), 'tenant')
      checkCeilings(request.body, s.options.limitCeilings)
      await s.db.tx(async (c) => {
        const { rows } = await c.query('SELECT limits FROM tenant_settings WHERE tenant_id = $1 FOR UPDATE', [tenantId])
        await c.query("UPDATE tenant_settings SET limits = $2, version = nextval('settings_version'), updated_at = now() WHERE tenant_id = $1", [
          tenantId,
          request.body,
        ])
        await audit(s, c, request, {
          kind: 'limits.update',
          scope: { tenant: tenantId },
          target: { type: 'tenant', id: tenantId },
          details: { level: 'tenant', from: rows[0]?.limits ?? null, to: request.body },
        })
      })
      return request.body
    },
  )

  app.get<{ Params: { projectId: string } }>(
    '/v1/projects/:projectId/settings',
    { schema: spec({ summary: "A project's settings", tags, params: idParams('projectId'), response: { 200: projectSettingsSchema } }) },
    async (request) => {
      authorize(request, s, 'project.read', await locateProject(s.db, request.params.projectId), 'project')
      return readProjectSettings(s, request.params.projectId)
    },
  )

  /** The audit event kind of a settings change: its own kind where the catalogue has one. */
  const kinds: Record<string, string> = { limits: 'limits.update', cors: 'cors.update', validation: 'validation.update' }
  const put = (path: string, action: string, column: string, props: Record<string, unknown>, check?: (b: never, id: string) => Promise<void>) => {
    const auditKind = kinds[column] ?? 'settings.update'
    return app.put<{ Params: { projectId: string }; Body: Record<string, unknown> }>(
      `/v1/projects/:projectId/${path}`,
      {
        schema: spec({
          summary: `Set a project's ${path} (${action})`,
          tags,
          params: idParams('projectId'),
          body: body(props, column === 'limits' ? [] : Object.keys(props)),
          response: { 200: projectSettingsSchema },
        }),
      },
      async (request) => {
        const id = request.params.projectId
        const project = await locateProject(s.db, id)
        authorize(request, s, action, project, 'project')
        if (check) await check(request.body as never, id)
        await s.db.tx(async (c) => {
          const { rows } = await c.query(`SELECT ${column} AS value FROM project_settings WHERE project_id = $1 FOR UPDATE`, [id])
          await c.query(`UPDATE project_settings SET ${column} = $2, version = nextval('settings_version'), updated_at = now() WHERE project_id = $1`, [
            id,
            request.body,
          ])
          await audit(s, c, request, {
            kind: auditKind,
            scope: project!.path,
            target: { type: 'project', id },
            details: { level: 'project', setting: column, from: rows[0]?.value ?? null, to: request.body },
          })
        })
        return readProjectSettings(s, id)
      },
    )
  }

  put('limits', 'limits.update', 'limits', limitsProps, async (b: Limits, id) => {
    checkCeilings(b, s.options.limitCeilings)
    const tenant = await s.db.query('SELECT ts.limits FROM tenant_settings ts JOIN projects p ON p.tenant_id = ts.tenant_id WHERE p.id = $1', [id])
    const ceiling: Limits = tenant.rows[0].limits
    for (const k of Object.keys(b) as (keyof Limits)[]) {
      const max = ceiling[k]
      if (max !== undefined && (b[k] ?? 0) > max) throw invalid(`${k}: the tenant allows at most ${max}`)
    }
  })
  put('cors', 'cors.update', 'cors', corsProps, async (b: { allowedOrigins: string[]; allowCredentials: boolean }) =>
    checkOrigins(b.allowedOrigins, b.allowCredentials),
  )
  put('validation', 'validation.update', 'validation', { strict: { type: 'boolean' } })
  put('diagnostics', 'diagnostics.update', 'diagnostics', diagProps)
  put('auth', 'project.update', 'auth', { oidc: oidcInput }, async (b: { oidc: ProjectOidc | null }) => checkOidc(b.oidc, s.options.allowLoopbackIdp))
}
