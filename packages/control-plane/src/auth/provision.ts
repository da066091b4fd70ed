/**
 * Just-in-time provisioning after an SSO login: link (or create) the user, make them a member of the
 * provider's tenant, and replace their IdP-managed role bindings from the provider's group mappings. Then a
 * one-time login code (60 s) hands the login to the client, which exchanges it at `/v1/auth/token`; the
 * session it opens is confined to the provider's tenant.
 *
 * An existing account is linked by e-mail only when the e-mail is verified: the IdP says so (`email_verified`
 * of OIDC) or the provider is trusted for e-mail (`trustEmail` in its configuration; SAML has no such claim).
 * Otherwise (an IdP that lets users type any address) the login is refused with `email_not_verified`, except
 * for an unclaimed invite of the provider's own tenant (no password, no linked identity, no membership or
 * binding elsewhere), which the first login through that tenant's provider claims as before. An unverified
 * e-mail nobody has yet gets a new account.
 *
 * A login code is bound to who started the login: the browser's cookie (`bindingHash`), or the S256
 * `codeChallenge` given at the start, whose verifier must come with the code.
 */
import type { FastifyRequest } from 'fastify'
import { audit } from '../audit/record.js'
import { createHash } from 'node:crypto'
import type { Queryable } from '../db/pool.js'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import type { SamlLink } from './saml.js'
import { randomToken, sha256 } from './secrets.js'

export interface ExternalProfile {
  subject: string
  email: string
  /** The IdP vouches for the address (OIDC `email_verified: true`). */
  emailVerified?: boolean
  displayName?: string
  groups: string[]
}

export interface ProviderRef {
  id: string
  tenantId: string
  /** `trustEmail` of the provider's configuration: its e-mail addresses count as verified. */
  trustEmail?: boolean
}

const ssoFailed = (m: string) => new ApiError(401, 'sso_failed', m)
const unverified = () =>
  new ApiError(
    403,
    'email_not_verified',
    'the identity provider did not verify this e-mail address, and an account with it exists: ask your tenant admin ' +
      'to have the identity provider verify addresses, or to mark the provider as trusted for e-mail (trustEmail)',
  )

/**
 * An account that a tenant admin of `tenantId` invited by e-mail and nobody has claimed: no password, no linked
 * identity, a member of that tenant only, with no binding elsewhere. Only its invite vouches for it.
 */
async function unclaimedInvite(c: Queryable, userId: string, tenantId: string): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>(
    `SELECT u.password_hash IS NULL
        AND NOT EXISTS (SELECT 1 FROM external_identities e WHERE e.user_id = u.id)
        AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.tenant_id = $2)
        AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.tenant_id <> $2)
        AND NOT EXISTS (SELECT 1 FROM role_bindings b WHERE b.user_id = u.id AND b.tenant_id IS DISTINCT FROM $2) AS ok
       FROM users u WHERE u.id = $1`,
    [userId, tenantId],
  )
  return rows[0]?.ok === true
}

export async function provisionUser(s: Services, provider: ProviderRef, profile: ExternalProfile, request?: FastifyRequest): Promise<string> {
  if (!profile.subject) throw ssoFailed('the identity provider sent no subject')
  if (!/^[^@\s]+@[^@\s]+$/.test(profile.email)) throw ssoFailed('the identity provider sent no usable e-mail address')
  return s.db.tx(async (c) => {
    // The provider's tenant must be live, and stays so until commit: a deleted tenant gets no member. Locked first,
    // before the provider's rows, in the order a DELETE of the tenant takes them (no deadlock).
    const live = await c.query('SELECT 1 FROM tenants WHERE id = $1 AND deleted_at IS NULL FOR SHARE', [provider.tenantId])
    if (!live.rowCount) throw ssoFailed('the identity provider has no tenant')
    const now = new Date(s.clock.now())
    const linked = await c.query<{ user_id: string }>('SELECT user_id FROM external_identities WHERE provider_id = $1 AND subject = $2 FOR UPDATE', [
      provider.id,
      profile.subject,
    ])
    let userId = linked.rows[0]?.user_id
    if (!userId) {
      if (!(profile.emailVerified === true || provider.trustEmail === true)) {
        const existing = await c.query<{ id: string }>('SELECT id FROM users WHERE lower(email) = lower($1) FOR UPDATE', [profile.email])
        const id = existing.rows[0]?.id
        if (id && !(await unclaimedInvite(c, id, provider.tenantId))) throw unverified()
      }
      const { rows } = await c.query<{ id: string }>(
        // an invited user (added by e-mail, maybe without a name) takes the IdP's name at the first link; a
        // name already set (by the inviting admin or an earlier login) is kept
        `INSERT INTO users (email, display_name) VALUES ($1, $2)
         ON CONFLICT (lower(email)) DO UPDATE SET display_name = coalesce(nullif(users.display_name, ''), EXCLUDED.display_name)
         RETURNING id, (xmax = 0) AS created`,
        [profile.email, profile.displayName ?? ''],
      )
      userId = rows[0]!.id
      if ((rows[0] as { created?: boolean }).created) {
        await audit(s, c, request, {
          kind: 'user.create',
          actor: { type: 'user', id: userId, name: null, auth: null },
          sid: null,
          scope: { tenant: provider.tenantId },
          target: { type: 'user', id: userId },
          details: { email_domain: profile.email.split('@').pop() ?? null, source: 'sso', idp: provider.id },
        })
      }
      const other = await c.query('SELECT 1 FROM external_identities WHERE provider_id = $1 AND user_id = $2', [provider.id, userId])
      if (other.rowCount) throw ssoFailed('this e-mail address is already linked to another identity of this provider')
      await c.query('INSERT INTO external_identities (provider_id, subject, user_id, last_login_at) VALUES ($1, $2, $3, $4)', [
        provider.id,
        profile.subject,
        userId,
        now,
      ])
    } else {
      await c.query('UPDATE external_identities SET last_login_at = $3 WHERE provider_id = $1 AND subject = $2', [provider.id, profile.subject, now])
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

/** Who may redeem a login code: the browser holding the cookie value, or the holder of the challenge's verifier. */
export type CodeBinding = { cookie: string } | { codeChallenge: string }

/** The S256 challenge of a PKCE-style verifier (RFC 7636), as base64url. */
export const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url')

/** `saml`: the SAML login behind the code, remembered with the session it opens (for single logout). */
export async function createLoginCode(s: Services, userId: string, tenantId: string, method: string, binding: CodeBinding, saml?: SamlLink): Promise<string> {
  const code = randomToken(32)
  await s.db.query(
    `INSERT INTO login_codes (code_hash, user_id, tenant_id, auth_method, expires_at, saml, binding_hash, code_challenge)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      sha256(code),
      userId,
      tenantId,
      method,
      new Date(s.clock.now() + 60_000),
      saml ?? null,
      'cookie' in binding ? sha256(binding.cookie) : null,
      'codeChallenge' in binding ? binding.codeChallenge : null,
    ],
  )
  return code
}

/**
 * Spends a login code: returns who logged in, through which method, confined to which tenant. The code must come
 * with its binding (the starting browser's cookie, or the verifier of its challenge); a code presented without it
 * is refused and stays redeemable by its owner until it expires.
 */
export async function consumeLoginCode(
  s: Services,
  code: string,
  proof: { cookie?: string; codeVerifier?: string },
): Promise<{ userId: string; tenantId?: string; method: string; saml?: SamlLink }> {
  const { rows } = await s.db.query<{ user_id: string; tenant_id: string | null; auth_method: string; expires_at: Date; saml: SamlLink | null }>(
    `DELETE FROM login_codes WHERE code_hash = $1
        AND ((code_challenge IS NOT NULL AND code_challenge = $2) OR (code_challenge IS NULL AND binding_hash = $3))
     RETURNING user_id, tenant_id, auth_method, expires_at, saml`,
    [sha256(code), proof.codeVerifier ? s256(proof.codeVerifier) : null, proof.cookie ? sha256(proof.cookie) : null],
  )
  const r = rows[0]
  if (!r || r.expires_at.getTime() <= s.clock.now()) {
    throw new ApiError(400, 'invalid_grant', 'login code is invalid, expired or used, or this client did not start its login')
  }
  return { userId: r.user_id, method: r.auth_method, ...(r.tenant_id ? { tenantId: r.tenant_id } : {}), ...(r.saml ? { saml: r.saml } : {}) }
}
