/**
 * The local bootstrap system admin, for installations without an IdP. While no system admin exists, each
 * start creates a setup link (a random token, stored hashed, replacing any earlier one) and prints it; the
 * first `POST /v1/setup` with that token creates the admin (argon2id password) and deletes the token, so the
 * link works once.
 */
import type { FastifyRequest } from 'fastify'
import { audit } from '../audit/record.js'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import { hashPassword, MIN_PASSWORD_LENGTH } from './passwords.js'
import { randomToken, sha256 } from './secrets.js'

const unavailable = () => new ApiError(410, 'setup_unavailable', 'this setup link is invalid, expired or already used')

async function hasSystemAdmin(s: Services): Promise<boolean> {
  const { rowCount } = await s.db.query("SELECT 1 FROM role_bindings WHERE role = 'system_admin' AND scope_kind = 'system' LIMIT 1")
  return (rowCount ?? 0) > 0
}

/** Returns a fresh setup URL when the installation has no system admin yet, else undefined. */
export async function prepareSetupLink(s: Services): Promise<string | undefined> {
  if (await hasSystemAdmin(s)) return undefined
  const token = randomToken(32)
  const expires = new Date(s.clock.now() + s.options.setupTtl * 1000)
  await s.db.query(
    `INSERT INTO setup_tokens (id, token_hash, expires_at) VALUES (1, $1, $2)
     ON CONFLICT (id) DO UPDATE SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at`,
    [sha256(token), expires],
  )
  return `${s.options.publicUrl}/v1/setup?token=${token}`
}

/** Consumes the setup token and creates the first system admin in one transaction. */
export async function completeSetup(
  s: Services,
  input: { token: string; email: string; password: string; displayName?: string },
  request?: FastifyRequest,
): Promise<{ userId: string }> {
  if (input.password.length < MIN_PASSWORD_LENGTH) {
    throw new ApiError(400, 'invalid_request', `password: at least ${MIN_PASSWORD_LENGTH} characters`)
  }
  const passwordHash = await hashPassword(input.password)
  return s.db.tx(async (c) => {
    const { rows } = await c.query<{ expires_at: Date }>('DELETE FROM setup_tokens WHERE id = 1 AND token_hash = $1 RETURNING expires_at', [
      sha256(input.token),
    ])
    if (!rows[0] || rows[0].expires_at.getTime() <= s.clock.now()) throw unavailable()
    const { rowCount } = await c.query("SELECT 1 FROM role_bindings WHERE role = 'system_admin' LIMIT 1 FOR UPDATE")
    if (rowCount) throw unavailable()
    const { rows: users } = await c.query<{ id: string }>(
      `INSERT INTO users (email, display_name, password_hash) VALUES ($1, $2, $3)
       ON CONFLICT (lower(email)) DO UPDATE SET password_hash = EXCLUDED.password_hash RETURNING id`,
      [input.email, input.displayName ?? '', passwordHash],
    )
    const userId = users[0]!.id
    await c.query("INSERT INTO role_bindings (user_id, role, scope_kind, source) VALUES ($1, 'system_admin', 'system', 'bootstrap')", [userId])
    await audit(s, c, request, {
      kind: 'system.setup',
      actor: { type: 'anonymous', id: null, name: null, auth: null },
      target: { type: 'user', id: userId },
      details: { admin: userId, email_domain: input.email.split('@').pop() ?? null },
    })
    return { userId }
  })
}
