/**
 * Pending SSO logins. Starting a login stores (hashed) a random `state` with the PKCE verifier, nonce or SAML
 * request id and where to return, and binds it to the browser with a random cookie value; finishing it needs
 * both, once, within 10 minutes (no login CSRF, no replay).
 *
 * The one-time login code that a login with `return_to` ends with is bound the same way: to a second cookie
 * (`cfp_login`, path `/v1/auth/token`) set with the redirect, or to the S256 `code_challenge` the login started
 * with (for a server that exchanges the code itself); see provision.ts.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import { randomToken, sha256 } from './secrets.js'

export const COOKIE = 'cfp_sso'
/** Holds what binds a login code to the browser it was handed to; sent only to the token endpoint. */
export const CODE_COOKIE = 'cfp_login'
const CODE_COOKIE_PATH = '/v1/auth/token'
const TTL_MS = 10 * 60_000

export interface PendingLogin {
  codeVerifier?: string
  nonce?: string
  requestId?: string
  returnTo?: string
  /** S256 challenge (base64url of 32 bytes): the login code will need its verifier instead of the cookie. */
  codeChallenge?: string
}

const failed = () => new ApiError(401, 'sso_failed', 'the login could not be completed: start it again')

/** Where a relative return_to is resolved to check that it stays on our origin (never used as a URL). */
const SAME_ORIGIN = 'https://return-to.invalid'

/**
 * Relative paths, or URLs on an allowed origin; anything else is refused (no open redirect). Browsers drop tabs
 * and newlines anywhere in a URL and read a backslash as a slash, so "/\t/evil.example" or "/\\evil.example" would
 * be "//evil.example": control characters, spaces and backslashes are refused outright, and a relative path must
 * still resolve to our own origin.
 */
export function checkReturnTo(s: Services, returnTo: string | undefined): string | undefined {
  if (returnTo === undefined || returnTo === '') return undefined
  const refused = new ApiError(400, 'invalid_request', 'return_to: a relative path or a URL on an allowed origin')
  if (/[\x00-\x20\x7f\\]/.test(returnTo)) throw refused
  try {
    if (returnTo.startsWith('/')) {
      if (!returnTo.startsWith('//') && new URL(returnTo, SAME_ORIGIN).origin === SAME_ORIGIN) return returnTo
    } else if (s.options.returnOrigins.includes(new URL(returnTo).origin)) {
      return returnTo
    }
  } catch {
    // not a URL: refused below
  }
  throw refused
}

export async function beginLogin(s: Services, reply: FastifyReply, providerId: string, p: PendingLogin): Promise<string> {
  const state = randomToken(24)
  const binding = randomToken(24)
  await s.db.query(
    `INSERT INTO login_states (state_hash, provider_id, binding_hash, code_verifier, nonce, request_id, return_to, code_challenge, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      sha256(state),
      providerId,
      sha256(binding),
      p.codeVerifier ?? null,
      p.nonce ?? null,
      p.requestId ?? null,
      p.returnTo ?? null,
      p.codeChallenge ?? null,
      new Date(s.clock.now() + TTL_MS),
    ],
  )
  const secure = s.options.publicUrl.startsWith('https:')
  const attrs = ['Path=/v1/auth/', 'HttpOnly', `Max-Age=${TTL_MS / 1000}`, secure ? 'SameSite=None; Secure' : 'SameSite=Lax']
  reply.header('set-cookie', `${COOKIE}=${binding}; ${attrs.join('; ')}`)
  return state
}

/**
 * `code_challenge` (+ optional `code_challenge_method`, S256 only) of a login start, for a login code that a
 * server will exchange with the verifier; undefined when none was given.
 */
export function checkCodeChallenge(challenge: string | undefined, method: string | undefined): string | undefined {
  if (challenge === undefined) {
    if (method !== undefined) throw new ApiError(400, 'invalid_request', 'code_challenge_method without code_challenge')
    return undefined
  }
  if (method !== undefined && method !== 'S256') throw new ApiError(400, 'invalid_request', 'code_challenge_method: only S256')
  if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) throw new ApiError(400, 'invalid_request', 'code_challenge: the base64url SHA-256 of a verifier (43 characters)')
  return challenge
}

/** Sets the cookie that binds a login code to this browser; returns its value (stored hashed with the code). */
export function bindCodeToBrowser(s: Services, reply: FastifyReply): string {
  const value = randomToken(24)
  const secure = s.options.publicUrl.startsWith('https:')
  // Lax is enough: the code is redeemed by a same-origin fetch (the workbench) or a form post of the same site
  const attrs = [`Path=${CODE_COOKIE_PATH}`, 'HttpOnly', 'Max-Age=120', 'SameSite=Lax', ...(secure ? ['Secure'] : [])]
  reply.header('set-cookie', `${CODE_COOKIE}=${value}; ${attrs.join('; ')}`)
  return value
}

/** Clears the login-code cookie (after any redemption attempt that carried it). */
export function clearCodeCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${CODE_COOKIE}=; Path=${CODE_COOKIE_PATH}; HttpOnly; Max-Age=0`)
}

export function cookieValue(request: FastifyRequest, name = COOKIE): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return v.join('=')
  }
  return undefined
}

/** Consumes the pending login for `state` if the browser holds its cookie; throws `sso_failed` otherwise. */
export async function finishLogin(s: Services, request: FastifyRequest, reply: FastifyReply, providerId: string, state: string | undefined) {
  const binding = cookieValue(request)
  reply.header('set-cookie', `${COOKIE}=; Path=/v1/auth/; HttpOnly; Max-Age=0`)
  if (!state || !binding) throw failed()
  const { rows } = await s.db.query<{
    binding_hash: Buffer
    code_verifier: string | null
    nonce: string | null
    request_id: string | null
    return_to: string | null
    code_challenge: string | null
    expires_at: Date
  }>('DELETE FROM login_states WHERE state_hash = $1 AND provider_id = $2 RETURNING *', [sha256(state), providerId])
  const r = rows[0]
  if (!r || !r.binding_hash.equals(sha256(binding)) || r.expires_at.getTime() <= s.clock.now()) throw failed()
  return r
}
