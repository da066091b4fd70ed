/**
 * Schema helpers: every route declares params, query, body and responses as JSON Schema (validated by
 * Fastify, published at /openapi.json); bodies refuse unknown properties; every error response is `Error`.
 */
import type { FastifySchema } from 'fastify'

export const uuid = { type: 'string', format: 'uuid' } as const
export const slug = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{1,62}$' } as const
export const name = { type: 'string', minLength: 1, maxLength: 200 } as const
export const timestamp = { type: 'string', format: 'date-time' } as const

export function idParams(...names: string[]) {
  return {
    type: 'object',
    required: names,
    additionalProperties: false,
    properties: Object.fromEntries(names.map((n) => [n, uuid])),
  } as const
}

export function body(properties: Record<string, unknown>, required: string[] = []) {
  return { type: 'object', additionalProperties: false, required, properties } as const
}

export function obj(properties: Record<string, unknown>, required: string[] = Object.keys(properties)) {
  return { type: 'object', required, properties } as const
}

export const list = (items: unknown) => obj({ items: { type: 'array', items } })
export const empty = { type: 'object', properties: {} } as const
const errorRef = { $ref: 'Error#' }

export interface RouteSpec {
  summary: string
  tags: string[]
  params?: unknown
  querystring?: unknown
  body?: unknown
  response: Record<number, unknown>
  /** reachable without credentials */
  public?: boolean
  consumes?: string[]
  produces?: string[]
}

/** Errors are JSON even where the route's success is not (`produces`): say so per response. */
const jsonError = { description: 'Error', content: { 'application/json': { schema: errorRef } } }

export function spec(r: RouteSpec): FastifySchema {
  const error = r.produces ? jsonError : errorRef
  const response: Record<string, unknown> = { ...r.response, '4XX': error, '5XX': error }
  const s: Record<string, unknown> = { summary: r.summary, tags: r.tags, response }
  if (r.params) s.params = r.params
  if (r.querystring) s.querystring = r.querystring
  if (r.body) s.body = r.body
  if (r.consumes) s.consumes = r.consumes
  if (r.produces) s.produces = r.produces
  if (!r.public) s.security = [{ bearer: [] }]
  return s as FastifySchema
}

export const tenantSchema = obj({ id: uuid, slug, name: { type: 'string' }, region: { type: 'string' }, createdAt: timestamp })
export const teamSchema = obj({ id: uuid, tenantId: uuid, slug, name: { type: 'string' }, createdAt: timestamp })
export const projectSchema = obj({
  id: uuid,
  tenantId: uuid,
  teamId: uuid,
  slug,
  name: { type: 'string' },
  region: { type: 'string' },
  createdAt: timestamp,
})
export const scopeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind'],
  properties: {
    kind: { type: 'string', enum: ['system', 'tenant', 'team', 'project'] },
    id: uuid,
  },
} as const
export const bindingSchema = obj({
  id: uuid,
  userId: uuid,
  role: { type: 'string' },
  scope: obj({ kind: { type: 'string' }, tenantId: uuid, teamId: uuid, projectId: uuid }, ['kind']),
  source: { type: 'string' },
  createdAt: timestamp,
})

type Row = Record<string, unknown>
const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : String(d))

export const toTenant = (r: Row) => ({ id: r.id, slug: r.slug, name: r.name, region: r.region, createdAt: iso(r.created_at) })
export const toTeam = (r: Row) => ({ id: r.id, tenantId: r.tenant_id, slug: r.slug, name: r.name, createdAt: iso(r.created_at) })
export const toProject = (r: Row) => ({
  id: r.id,
  tenantId: r.tenant_id,
  teamId: r.team_id,
  slug: r.slug,
  name: r.name,
  region: r.region,
  createdAt: iso(r.created_at),
})
export const toBindingView = (r: Row) => ({
  id: r.id,
  userId: r.user_id,
  role: r.role,
  scope: {
    kind: r.scope_kind,
    ...(r.tenant_id ? { tenantId: r.tenant_id } : {}),
    ...(r.team_id ? { teamId: r.team_id } : {}),
    ...(r.project_id ? { projectId: r.project_id } : {}),
  },
  source: r.source,
  createdAt: iso(r.created_at),
})
