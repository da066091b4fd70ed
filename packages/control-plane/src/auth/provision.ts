/**
 * Just-in-time provisioning after an SSO login: link (or create) the user, make them a member of the
 * provider's tenant, and replace their IdP-managed role bindings from the provider's group mappings. Then a
 * one-time login code (60 s) hands the login to the client, which exchanges it at `/v1/auth/token`; the
 * session it opens is confined to the provider's tenant.
 */
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import type { SamlLink } from './saml.js'
import { randomToken, sha256 } from './secrets.js'

export interface ExternalProfile {
  subject: string
  email: string
  displayName?: string
  groups: string[]
}

export interface ProviderRef {
  id: string
  tenantId: string
}

const ssoFailed = (m: string) => new ApiError(401, 'sso_failed', m)

export async function provisionUser(s: Services, provider: ProviderRef, profile: ExternalProfile): Promise<string> {
  if (!profile.subject) throw ssoFailed('the identity provider sent no subject')
  if (!/^[^@\s]+@[^@\s]+$/.test(profile.email)) throw ssoFailed('the identity provider sent no usable e-mail address')
  return s.db.tx(async (c) => {
    // The provider's tenant must be live, and stays so until commit: a deleted tenant gets no member. Locked first,
    // before the provider's rows, in the order a DELETE of the tenant takes them (no deadlock).
    const live = await c.query('SELECT 1 FROM tenants WHERE id = $1 AND deleted_at IS NULL FOR SHARE', [provider.tenantId])
    if (!live.rowCount) throw ssoFailed('the identity provider has no tenant')
    const now = new Date(s.clock.now())
    const linked = await c.query<{ user_id: string }>(
      'SELECT user_id FROM external_identities WHERE provider_id = $1 AND subject = $2 FOR UPDATE',
      [provider.id, profile.subject],
    )
    let userId = linked.rows[0]?.user_id
    if (!userId) {
      const { rows } = await c.query<{ id: string }>(
        // an invited user (added by e-mail, maybe without a name) takes the IdP's name at the first link; a
        // name already set (by the inviting admin or an earlier login) is kept
        `INSERT INTO users (email, display_name) VALUES ($1, $2)
         ON CONFLICT (lower(email)) DO UPDATE SET display_name = coalesce(nullif(users.display_name, ''), EXCLUDED.display_name)
         RETURNING id`,
        [profile.email, profile.displayName ?? ''],
      )
      userId = rows[0]!.id
      const other = await c.query('SELECT 1 FROM external_identities WHERE provider_id = $1 AND user_id = $2', [provider.id, userId])
      if (other.rowCount) throw ssoFailed('this e-mail address is already linked to another identity of this provider')
      await c.query('INSERT INTO external_identities (provider_id, subject, user_id, last_login_at) VALUES ($1, $2, $3, $4)', [
        provider.id,
        profile.subject,
        userId,
        now,
      ])
    } else {
      await c.query('UPDATE external_identities SET last_login_at = $3 WHERE provider_id = $1 AND subject = $2', [
        provider.id,
        profile.subject,
        now,
      ])
    }
    const { rows: u } = await c.query<{ disabled_at: Date | null }>('SELECT disabled_at FROM users WHERE id = $1', [userId])
    if (u[0]?.disabled_at) throw ssoFailed('this account is disabled')
    await c.query('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [provider.tenantId, userId])
    const source = `idp:${provider.id}`
    await c.query('DELETE FROM role_bindings WHERE user_id = $1 AND source = $2', [userId, source])
    await c.query(
      `INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id, team_id, project_id, source)
       SELECT DISTINCT $1::uuid, g.role,
              CASE WHEN g.project_id IS NOT NULL THEN 'project' WHEN g.team_id IS NOT NULL THEN 'team' ELSE 'tenant' END,
              $2::uuid, coalesce(g.team_id, p.team_id), g.project_id, $3
         FROM group_mappings g LEFT JOIN projects p ON p.id = g.project_id LEFT JOIN teams tm ON tm.id = coalesce(g.team_id, p.team_id)
        WHERE g.provider_id = $4 AND g.idp_group = ANY($5::text[])
          -- never a binding at a deleted project or team (a mapping a racing DELETE left behind)
          AND (g.project_id IS NULL OR p.deleted_at IS NULL) AND (tm.id IS NULL OR tm.deleted_at IS NULL)`,
      [userId, provider.tenantId, source, provider.id, profile.groups],
    )
    return userId
  })
}

/** `saml`: the SAML login behind the code, remembered with the session it opens (for single logout). */
export async function createLoginCode(s: Services, userId: string, tenantId: string, method: string, saml?: SamlLink): Promise<string> {
  const code = randomToken(32)
  await s.db.query('INSERT INTO login_codes (code_hash, user_id, tenant_id, auth_method, expires_at, saml) VALUES ($1, $2, $3, $4, $5, $6)', [
    sha256(code),
    userId,
    tenantId,
    method,
    new Date(s.clock.now() + 60_000),
    saml ?? null,
  ])
  return code
}

/** Spends a login code: returns who logged in, through which method, confined to which tenant. */
export async function consumeLoginCode(
  s: Services,
  code: string,
): Promise<{ userId: string; tenantId?: string; method: string; saml?: SamlLink }> {
  const { rows } = await s.db.query<{ user_id: string; tenant_id: string | null; auth_method: string; expires_at: Date; saml: SamlLink | null }>(
    'DELETE FROM login_codes WHERE code_hash = $1 RETURNING user_id, tenant_id, auth_method, expires_at, saml',
    [sha256(code)],
  )
  const r = rows[0]
  if (!r || r.expires_at.getTime() <= s.clock.now()) throw new ApiError(400, 'invalid_grant', 'login code is invalid, expired or used')
  return { userId: r.user_id, method: r.auth_method, ...(r.tenant_id ? { tenantId: r.tenant_id } : {}), ...(r.saml ? { saml: r.saml } : {}) }
}
