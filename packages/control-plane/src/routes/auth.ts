/**
 * Login with a password, the token endpoint (refresh-token rotation, login-code exchange), the exchange of a
 * control-plane token for a runtime token, RFC 7009 revocation, logout (with SAML single logout: the IdP's
 * logout URL for a session opened through SAML) and `GET /v1/me`.
 */
import { sha256 } from '../auth/secrets.js'
import { audit } from '../audit/record.js'
import type { FastifyInstance } from 'fastify'
import { LoginThrottle } from '../auth/throttle.js'
import { issueTokens, tokenResponseSchema } from '../auth/issue.js'
import { verifyPassword } from '../auth/passwords.js'
import { isCredentialToken } from '../auth/credentials.js'
import { AUDIENCE_RUNTIME } from '../auth/access.js'
import { bearer } from '../auth/authenticate.js'
import { REFRESH_PREFIX } from '../auth/sessions.js'
import { checkReturnTo, clearCodeCookie, CODE_COOKIE, cookieValue } from '../auth/login-state.js'
import { consumeLoginCode } from '../auth/provision.js'
import { openSession, samlLogoutTarget, startLogout } from '../auth/saml-logout.js'
import { principalOf } from '../authz.js'
import { lockedUntil } from '../security/rules.js'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import { body, empty, obj, spec, uuid } from './schema.js'

const loginFailed = () => new ApiError(401, 'login_failed', 'e-mail or password is wrong')

export function authRoutes(app: FastifyInstance, s: Services): void {
  app.post<{ Body: { email: string; password: string; tenant_id?: string } }>(
    '/v1/auth/login',
    {
      config: { auth: 'public' },
      schema: spec({
        summary: 'Log in with e-mail and password (local accounts such as the bootstrap admin)',
        tags: ['auth'],
        public: true,
        body: body({ email: { type: 'string', maxLength: 320 }, password: { type: 'string', maxLength: 1024 }, tenant_id: uuid }, ['email', 'password']),
        response: { 200: tokenResponseSchema },
      }),
    },
    async (request) => {
      const keys = LoginThrottle.keys(request.body.email, request.ip)
      await s.loginThrottle.check([keys.account, keys.address])
      const { rows } = await s.db.query<{ id: string; password_hash: string | null; disabled_at: Date | null }>(
        'SELECT id, password_hash, disabled_at FROM users WHERE lower(email) = lower($1)',
        [request.body.email],
      )
      const user = rows[0]
      const domain = request.body.email.split('@').pop() ?? null
      // locked by a security response (repeated failures, src/security/rules.ts): refused before the password is checked
      const until = user ? await lockedUntil(s.db, s.clock, user.id) : null
      if (user && until) {
        await audit(s, s.db, request, {
          kind: 'auth.login',
          outcome: { status: 'denied', code: 'account_locked' },
          target: { type: 'user', id: user.id },
          details: { method: 'password', email_domain: domain, reason: 'locked' },
        })
        const retryAfterSeconds = Math.max(1, Math.ceil((until.getTime() - s.clock.now()) / 1000))
        // the same answer as the throttle's: a locked account must not tell an attacker that the address has one
        throw new ApiError(429, 'too_many_attempts', `too many failed logins; try again in ${retryAfterSeconds} s`, { retryAfterSeconds })
      }
      const ok = await verifyPassword(user?.password_hash, request.body.password)
      if (!user || !ok || user.disabled_at) {
        await s.loginThrottle.fail(keys.account, keys.address)
        await audit(s, s.db, request, {
          kind: 'auth.login',
          outcome: { status: 'denied', code: 'login_failed' },
          target: { type: 'user', id: user?.id ?? null },
          details: { method: 'password', email_domain: domain, reason: !user ? 'unknown_user' : user.disabled_at ? 'disabled' : 'wrong_password' },
        })
        throw loginFailed()
      }
      await s.loginThrottle.succeed(keys.account)
      // the session, its tokens and the sign-in's entry: all or nothing
      return s.db.tx(async (c) => {
        const session = await s.sessions.create(c, user.id, 'password')
        const tokens = await issueTokens(s, { userId: user.id, ...session, ...(request.body.tenant_id ? { tenantId: request.body.tenant_id } : {}) })
        await audit(s, c, request, {
          kind: 'auth.login',
          actor: { type: 'user', id: user.id, name: null, auth: 'password' },
          sid: session.sessionId,
          scope: tokens.tenant_id ? { tenant: tokens.tenant_id } : {},
          target: { type: 'user', id: user.id },
          details: { method: 'password', email_domain: domain },
        })
        return tokens
      })
    },
  )

  app.post<{ Body: { grant_type: string; refresh_token?: string; code?: string; code_verifier?: string; tenant_id?: string; region?: string } }>(
    '/v1/auth/token',
    {
      config: { auth: 'public' },
      schema: spec({
        summary:
          'Exchange a refresh token (rotated on every use) or a one-time login code for a token pair. A login code is ' +
          'redeemed by the browser that started the SSO login (its cfp_login cookie), or with the code_verifier of the ' +
          'code_challenge the login started with',
        tags: ['auth'],
        public: true,
        body: body(
          {
            grant_type: { type: 'string', enum: ['refresh_token', 'login_code'] },
            refresh_token: { type: 'string', maxLength: 200 },
            code: { type: 'string', maxLength: 200 },
            code_verifier: { type: 'string', minLength: 43, maxLength: 128, description: 'the verifier of the code_challenge the SSO login started with' },
            tenant_id: uuid,
            region: { type: 'string', maxLength: 32 },
          },
          ['grant_type'],
        ),
        response: { 200: tokenResponseSchema },
      }),
    },
    async (request, reply) => {
      const b = request.body
      const scope = { ...(b.tenant_id ? { tenantId: b.tenant_id } : {}), ...(b.region ? { region: b.region } : {}) }
      if (b.grant_type === 'refresh_token') {
        if (!b.refresh_token) throw new ApiError(400, 'invalid_request', 'refresh_token is required')
        const next = await s.sessions.rotate(b.refresh_token, (c, r) =>
          audit(s, c, request, {
            kind: r.kind === 'ok' ? 'auth.refresh' : 'auth.refresh_reuse',
            actor: { type: 'user', id: r.userId, name: null, auth: 'session' },
            sid: r.sessionId,
            scope: r.tenantId ? { tenant: r.tenantId } : {},
            target: { type: 'session', id: r.sessionId },
            outcome: r.kind === 'ok' ? { status: 'ok', code: null } : { status: 'denied', code: 'refresh_token_reuse' },
            details: r.kind === 'ok' ? { family: r.sessionId } : { family: r.sessionId, revoked_sessions: 1 },
          }),
        )
        return issueTokens(s, { ...next, ...scope })
      }
      if (!b.code) throw new ApiError(400, 'invalid_request', 'code is required')
      const cookie = cookieValue(request, CODE_COOKIE)
      if (cookie !== undefined) clearCodeCookie(reply)
      const login = await consumeLoginCode(s, b.code, { ...(cookie ? { cookie } : {}), ...(b.code_verifier ? { codeVerifier: b.code_verifier } : {}) })
      const session = await openSession(s, login.userId, login.method, login.tenantId, login.saml, request)
      const tenant = scope.tenantId ?? login.tenantId
      return issueTokens(s, { userId: login.userId, ...session, ...scope, ...(tenant ? { tenantId: tenant } : {}) })
    },
  )

  app.post<{ Body: { region?: string } }>(
    '/v1/tokens/runtime',
    {
      schema: spec({
        summary:
          'Exchange the calling control-plane access token for a runtime token: audience `cfp-runtime` only (refused ' +
          'by the control plane), the same user, session, tenant and role bindings, at most 5 minutes and never past ' +
          'the exchanged token. A system-wide token may name another `region`',
        tags: ['auth'],
        body: body({ region: { type: 'string', maxLength: 32 } }),
        response: {
          200: obj(
            {
              access_token: { type: 'string' },
              token_type: { type: 'string', enum: ['Bearer'] },
              expires_in: { type: 'integer' },
              tenant_id: uuid,
              region: { type: 'string' },
            },
            ['access_token', 'token_type', 'expires_in', 'region'],
          ),
        },
      }),
    },
    async (request) => {
      const p = principalOf(request)
      if (p.kind !== 'user' || !p.sessionId) {
        throw new ApiError(403, 'forbidden', "only a user's access token can be exchanged for a runtime token")
      }
      const claims = await s.access.verify(bearer(request.headers.authorization) ?? '')
      let region = claims.region
      const wanted = request.body?.region
      if (wanted && wanted !== region) {
        if (claims.tid !== undefined) throw new ApiError(400, 'invalid_request', `region: the tenant lives in region ${region}`)
        if (!s.options.regions.includes(wanted)) throw new ApiError(400, 'invalid_request', `region: unknown region ${wanted}`)
        region = wanted
      }
      const minIat = await s.revocations.minIat(claims.sub)
      const t = await s.access.issueRuntime({
        userId: claims.sub,
        sessionId: claims.sid,
        region,
        bindings: claims.rb,
        minIat,
        notAfter: claims.exp,
        ...(claims.tid ? { tenantId: claims.tid } : {}),
      })
      await audit(s, s.db, request, {
        kind: 'runtime_token.issue',
        scope: claims.tid ? { tenant: claims.tid } : {},
        target: { type: 'session', id: claims.sid },
        details: { region, jti: t.jti, expires: new Date((Math.floor(s.clock.now() / 1000) + t.expiresIn) * 1000).toISOString() },
      })
      return { access_token: t.token, token_type: 'Bearer' as const, expires_in: t.expiresIn, region, ...(claims.tid ? { tenant_id: claims.tid } : {}) }
    },
  )

  app.post<{ Body: { token: string; token_type_hint?: string } }>(
    '/v1/auth/revoke',
    {
      config: { auth: 'public' },
      schema: spec({
        summary: 'RFC 7009 revocation: a refresh token (its whole session), an access token, an API key or worker token',
        tags: ['auth'],
        public: true,
        body: body({ token: { type: 'string', maxLength: 4096 }, token_type_hint: { type: 'string', maxLength: 40 } }, ['token']),
        response: { 200: empty },
      }),
    },
    async (request) => {
      const token = request.body.token
      const holder = { type: 'anonymous' as const, id: null, name: null, auth: null }
      if (token.startsWith(REFRESH_PREFIX)) {
        const { rows } = await s.db.query<{ session_id: string; user_id: string; tenant_id: string | null }>(
          'SELECT rt.session_id, se.user_id, se.tenant_id FROM refresh_tokens rt JOIN sessions se ON se.id = rt.session_id WHERE rt.token_hash = $1',
          [sha256(token)],
        )
        const found = rows[0]
        if (found) {
          await s.db.tx(async (c) => {
            await s.sessions.revokeIn(c, found.session_id, 'revoked')
            await audit(s, c, request, {
              kind: 'auth.revoke',
              actor: { ...holder, type: 'user', id: found.user_id, auth: 'session' },
              sid: found.session_id,
              scope: found.tenant_id ? { tenant: found.tenant_id } : {},
              target: { type: 'session', id: found.session_id },
              details: { what: 'refresh_family' },
            })
          })
        }
      } else if (isCredentialToken(token)) {
        const cred = await s.credentials.verify(token)
        if (cred) {
          await s.db.tx(async (c) => {
            await s.credentials.revoke(c, cred.id, 'revoked by holder')
            const what = cred.kind === 'api_key' ? 'api_key' : 'worker_token'
            await audit(s, c, request, {
              kind: 'auth.revoke',
              actor: {
                type: cred.kind === 'api_key' ? 'api_key' : 'worker',
                id: cred.id,
                name: null,
                auth: cred.kind === 'api_key' ? 'api_key' : 'worker_token',
              },
              scope: { tenant: cred.tenantId, team: cred.teamId, project: cred.projectId },
              target: { type: what, id: cred.id },
              details: { what, prefix: cred.prefix },
            })
          })
        }
      } else {
        const claims = (await s.access.verify(token).catch(() => undefined)) ?? (await s.access.verify(token, AUDIENCE_RUNTIME).catch(() => undefined))
        if (claims) {
          await s.db.tx(async (c) => {
            await s.revocations.add(c, 'token', claims.jti, 'revoked', { expiresAt: new Date(claims.exp * 1000 + 60_000) })
            await audit(s, c, request, {
              kind: 'auth.revoke',
              actor: { type: 'user', id: claims.sub, name: null, auth: 'session' },
              sid: claims.sid,
              scope: claims.tid ? { tenant: claims.tid } : {},
              target: { type: 'token', id: claims.jti },
              details: { what: 'access_token', jti: claims.jti },
            })
          })
        }
      }
      return {}
    },
  )

  app.post<{ Querystring: { return_to?: string } }>(
    '/v1/auth/logout',
    {
      schema: spec({
        summary:
          'End the session of the calling access token. A session opened through a SAML provider with single logout ' +
          'also gets `idpLogoutUrl`: send the browser there (a signed LogoutRequest); the IdP returns it to `return_to` ' +
          '(a relative path or an allowed origin; default /__cfp/login)',
        tags: ['auth'],
        querystring: { type: 'object', properties: { return_to: { type: 'string', maxLength: 2000 } } },
        response: { 200: obj({ idpLogoutUrl: { type: 'string', format: 'uri' } }, []) },
      }),
    },
    async (request) => {
      const p = principalOf(request)
      const returnTo = checkReturnTo(s, request.query.return_to)
      if (!p.sessionId) return {}
      const saml = await samlLogoutTarget(s.db, p.sessionId)
      const sessionId = p.sessionId
      await s.db.tx(async (c) => {
        await s.sessions.revokeIn(c, sessionId, 'logout')
        await audit(s, c, request, {
          kind: 'auth.logout',
          scope: p.tenantId ? { tenant: p.tenantId } : {},
          target: { type: 'session', id: sessionId },
          details: { method: saml ? 'saml_slo' : 'local' },
        })
      })
      if (!saml) return {}
      return { idpLogoutUrl: await startLogout(s, saml.provider, saml.link, returnTo) }
    },
  )

  app.get(
    '/v1/me',
    {
      schema: spec({
        summary: 'Who the caller is and what it is bound to',
        tags: ['auth'],
        response: {
          200: obj(
            {
              kind: { type: 'string' },
              id: uuid,
              tenantId: uuid,
              region: { type: 'string' },
              bindings: { type: 'array', items: obj({ role: { type: 'string' }, scope: { type: 'object', additionalProperties: { type: 'string' } } }) },
              actions: { type: 'array', items: { type: 'string' } },
            },
            ['kind', 'id', 'bindings'],
          ),
        },
      }),
    },
    async (request) => {
      const p = principalOf(request)
      return { kind: p.kind, id: p.id, tenantId: p.tenantId, region: p.region, bindings: p.bindings, actions: p.actions }
    },
  )
}
