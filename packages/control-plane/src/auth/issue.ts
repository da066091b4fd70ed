/**
 * Issuing the token pair after a login, a refresh or a login-code exchange: picks the tenant the access token
 * is for (asked for, or the user's only tenant), its region, and the user's bindings there.
 */
import { ApiError } from '../errors.js'
import { loadBindings } from '../db/scopes.js'
import type { Services } from '../services.js'

export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  tenant_id?: string
  region: string
}

export const tokenResponseSchema = {
  type: 'object',
  required: ['access_token', 'token_type', 'expires_in', 'refresh_token', 'region'],
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string', enum: ['Bearer'] },
    expires_in: { type: 'integer' },
    refresh_token: { type: 'string' },
    tenant_id: { type: 'string', format: 'uuid' },
    region: { type: 'string' },
  },
} as const

export async function issueTokens(
  s: Services,
  input: { userId: string; sessionId: string; refreshToken: string; tenantId?: string; region?: string },
): Promise<TokenResponse> {
  const bad = (m: string) => new ApiError(400, 'invalid_request', m)
  const { rows } = await s.db.query<{ tenant_id: string; region: string }>(
    'SELECT m.tenant_id, t.region FROM memberships m JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 AND t.deleted_at IS NULL',
    [input.userId],
  )
  const { rows: sess } = await s.db.query<{ tenant_id: string | null }>('SELECT tenant_id FROM sessions WHERE id = $1', [input.sessionId])
  const confined = sess[0]?.tenant_id ?? undefined
  if (confined && input.tenantId && input.tenantId !== confined) {
    throw bad('tenant_id: this login (through a tenant identity provider) is valid for its tenant only')
  }
  const system = confined ? [] : await loadBindings(s.db, input.userId)
  let tenantId = input.tenantId ?? confined
  let region: string
  if (tenantId) {
    const member = rows.find((r) => r.tenant_id === tenantId)
    const tenant = member ?? (system.length > 0 ? await tenantRegion(s, tenantId) : undefined)
    if (!tenant) throw bad('tenant_id: you are not a member of this tenant')
    region = tenant.region
    if (input.region && input.region !== region) throw bad(`region: the tenant lives in region ${region}`)
  } else {
    if (system.length === 0 && rows.length === 1) tenantId = rows[0]!.tenant_id
    region = tenantId ? rows[0]!.region : (input.region ?? s.options.regions[0]!)
    if (!s.options.regions.includes(region)) throw bad(`region: unknown region ${region}`)
  }
  let bindings = await loadBindings(s.db, input.userId, tenantId)
  if (confined) bindings = bindings.filter((b) => b.scope.tenant === confined)
  const minIat = await s.revocations.minIat(input.userId, tenantId)
  const at = await s.access.issue({
    userId: input.userId,
    sessionId: input.sessionId,
    region,
    bindings,
    minIat,
    ...(tenantId ? { tenantId } : {}),
  })
  return {
    access_token: at.token,
    token_type: 'Bearer',
    expires_in: at.expiresIn,
    refresh_token: input.refreshToken,
    ...(tenantId ? { tenant_id: tenantId } : {}),
    region,
  }
}

async function tenantRegion(s: Services, tenantId: string): Promise<{ region: string } | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(tenantId)) return undefined
  const { rows } = await s.db.query<{ region: string }>('SELECT region FROM tenants WHERE id = $1 AND deleted_at IS NULL', [tenantId])
  return rows[0]
}
