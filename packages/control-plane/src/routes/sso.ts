/**
 * SSO login routes. OIDC: `GET /v1/auth/oidc/:idpId/login` redirects to the IdP; `…/callback` redeems the
 * code. SAML: `GET /v1/auth/saml/:idpId/login` redirects with an AuthnRequest; `POST …/acs` verifies the
 * signed response; `GET …/metadata` describes the SP; `GET|POST …/slo` is single logout (saml-slo.ts). Both
 * then provision the user just in time and either redirect to `return_to?code=<one-time login code>` or, without
 * `return_to`, answer with the token pair (a SAML login's session remembers its NameID and SessionIndex).
 */
import { audit } from '../audit/record.js'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import * as client from 'openid-client'
import { issueTokens, tokenResponseSchema } from '../auth/issue.js'
import { beginLogin, bindCodeToBrowser, checkCodeChallenge, checkReturnTo, finishLogin } from '../auth/login-state.js'
import { authorizationUrl, redeem, type OidcProvider } from '../auth/oidc.js'
import { createLoginCode, provisionUser, type ExternalProfile } from '../auth/provision.js'
import { authnRequestUrl, samlMetadata, verifySamlResponse, type SamlLink, type SamlProvider } from '../auth/saml.js'
import { openSession } from '../auth/saml-logout.js'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import { body, idParams, spec } from './schema.js'
import { SECRET_PURPOSE } from './idps.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const notFound = () => new ApiError(404, 'not_found', 'identity provider not found')

/**
 * The provider an SSO route names. A disabled one is not found, except with `disabled: true` (single logout: a
 * session opened through it before it was disabled must still end when the user logs out at the IdP).
 */
export async function provider(s: Services, id: string, kind: 'oidc' | 'saml', opts: { disabled?: boolean } = {}) {
  if (!UUID.test(id)) throw notFound()
  // a provider of a deleted tenant (its DELETE removes them; one a racing create left behind) is not found either
  const { rows } = await s.db.query(
    `SELECT i.* FROM identity_providers i JOIN tenants t ON t.id = i.tenant_id
      WHERE i.id = $1 AND i.kind = $2 AND (i.enabled OR $3) AND t.deleted_at IS NULL`,
    [id, kind, opts.disabled === true],
  )
  const r = rows[0]
  if (!r) throw notFound()
  return { ...r, secret: r.secret_enc ? s.sealer.open(r.secret_enc, SECRET_PURPOSE) : '' }
}

async function complete(
  s: Services,
  reply: FastifyReply,
  p: { id: string; tenant_id: string; config: { trustEmail?: boolean } },
  profile: ExternalProfile,
  pending: { return_to: string | null; code_challenge: string | null },
  method: string,
  link?: SamlLink,
) {
  const userId = await provisionUser(s, { id: p.id, tenantId: p.tenant_id, trustEmail: p.config.trustEmail === true }, profile, reply.request)
  const returnTo = pending.return_to
  if (returnTo) {
    // the code is redeemable only by this browser (its cookie) or the holder of the challenge's verifier
    const binding = pending.code_challenge ? { codeChallenge: pending.code_challenge } : { cookie: bindCodeToBrowser(s, reply) }
    const code = await createLoginCode(s, userId, p.tenant_id, method, binding, link)
    return reply.redirect(`${returnTo}${returnTo.includes('?') ? '&' : '?'}code=${encodeURIComponent(code)}`, 302)
  }
  const session = await openSession(s, userId, method, p.tenant_id, link, reply.request)
  return issueTokens(s, { userId, ...session, tenantId: p.tenant_id })
}

/** Records a refused single sign-on (`auth.login`, outcome denied) in the provider's tenant chain, then rethrows. */
async function signInRefused(s: Services, request: FastifyRequest, p: { id: string; tenant_id: string }, method: string, err: unknown): Promise<never> {
  const code = err instanceof ApiError ? err.code : 'sso_failed'
  await audit(s, s.db, request, {
    kind: 'auth.login',
    outcome: { status: 'denied', code },
    scope: { tenant: p.tenant_id },
    target: { type: 'idp', id: p.id },
    details: { method, idp: p.id },
  })
  throw err
}

function ssoError(request: { log: { warn: (o: object, m: string) => void } }, err: unknown): never {
  if (err instanceof ApiError) throw err
  request.log.warn({ err }, 'SSO login failed')
  throw new ApiError(401, 'sso_failed', 'the identity provider response was refused')
}

export function ssoRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['sso']
  const config = { auth: 'public' as const }
  const loginQuery = {
    type: 'object',
    properties: {
      return_to: { type: 'string', maxLength: 2000 },
      code_challenge: {
        type: 'string',
        maxLength: 128,
        description: 'S256 challenge: the login code will need its verifier (code_verifier) instead of the browser cookie',
      },
      code_challenge_method: { type: 'string', maxLength: 16 },
    },
  }
  type LoginQuery = { return_to?: string; code_challenge?: string; code_challenge_method?: string }
  const redirect = { 302: { type: 'null', description: 'redirect to the identity provider' } }

  app.get<{ Params: { idpId: string }; Querystring: LoginQuery }>(
    '/v1/auth/oidc/:idpId/login',
    {
      config,
      schema: spec({ summary: 'Start an OIDC login (PKCE)', tags, public: true, params: idParams('idpId'), querystring: loginQuery, response: redirect }),
    },
    async (request, reply) => {
      const p = (await provider(s, request.params.idpId, 'oidc')) as OidcProvider
      const returnTo = checkReturnTo(s, request.query.return_to)
      const codeChallenge = checkCodeChallenge(request.query.code_challenge, request.query.code_challenge_method)
      const codeVerifier = client.randomPKCECodeVerifier()
      const nonce = client.randomNonce()
      const state = await beginLogin(s, reply, p.id, { codeVerifier, nonce, ...(returnTo ? { returnTo } : {}), ...(codeChallenge ? { codeChallenge } : {}) })
      const url = await authorizationUrl(s, p, state, codeVerifier, nonce).catch((err: unknown) => {
        if (err instanceof ApiError) throw err
        request.log.warn({ err }, 'OIDC discovery failed')
        throw new ApiError(502, 'sso_failed', 'the identity provider cannot be reached or is misconfigured')
      })
      return reply.redirect(url, 302)
    },
  )

  app.get<{ Params: { idpId: string }; Querystring: Record<string, string> }>(
    '/v1/auth/oidc/:idpId/callback',
    {
      config,
      schema: spec({
        summary: 'OIDC redirect target: redeems the code, provisions the user, returns tokens or redirects with a login code',
        tags,
        public: true,
        params: idParams('idpId'),
        // Named properties: without them the OpenAPI generator turned the schema's own keys into parameters.
        querystring: {
          type: 'object',
          properties: Object.fromEntries(['code', 'state', 'iss', 'error', 'error_description', 'session_state'].map((k) => [k, { type: 'string' }])),
          additionalProperties: { type: 'string' },
        },
        response: { 200: tokenResponseSchema, 302: { type: 'null' } },
      }),
    },
    async (request, reply) => {
      const p = (await provider(s, request.params.idpId, 'oidc')) as OidcProvider & { tenant_id: string }
      const pending = await finishLogin(s, request, reply, p.id, request.query.state)
      const current = new URL(request.url, s.options.publicUrl)
      const profile = await redeem(s, p, current, {
        state: request.query.state!,
        nonce: pending.nonce ?? '',
        codeVerifier: pending.code_verifier ?? '',
      }).catch((e) => signInRefused(s, request, p, 'oidc', e).catch((err) => ssoError(request, err)))
      return complete(s, reply, p, profile, pending, 'oidc').catch((e) => signInRefused(s, request, p, 'oidc', e))
    },
  )

  app.get<{ Params: { idpId: string }; Querystring: LoginQuery }>(
    '/v1/auth/saml/:idpId/login',
    {
      config,
      schema: spec({
        summary: 'Start a SAML login (HTTP-Redirect AuthnRequest)',
        tags,
        public: true,
        params: idParams('idpId'),
        querystring: loginQuery,
        response: redirect,
      }),
    },
    async (request, reply) => {
      const p = (await provider(s, request.params.idpId, 'saml')) as SamlProvider
      const returnTo = checkReturnTo(s, request.query.return_to)
      const codeChallenge = checkCodeChallenge(request.query.code_challenge, request.query.code_challenge_method)
      const requestId = '_' + client.randomState()
      const state = await beginLogin(s, reply, p.id, { requestId, ...(returnTo ? { returnTo } : {}), ...(codeChallenge ? { codeChallenge } : {}) })
      return reply.redirect(await authnRequestUrl(s, p, requestId, state), 302)
    },
  )

  app.post<{ Params: { idpId: string }; Body: { SAMLResponse: string; RelayState?: string } }>(
    '/v1/auth/saml/:idpId/acs',
    {
      config,
      schema: spec({
        summary: 'SAML assertion consumer service (HTTP-POST binding): verifies the signed response',
        tags,
        public: true,
        params: idParams('idpId'),
        consumes: ['application/x-www-form-urlencoded'],
        body: body({ SAMLResponse: { type: 'string', maxLength: 500_000 }, RelayState: { type: 'string', maxLength: 200 } }, ['SAMLResponse']),
        response: { 200: tokenResponseSchema, 302: { type: 'null' } },
      }),
    },
    async (request, reply) => {
      const p = (await provider(s, request.params.idpId, 'saml')) as SamlProvider & { tenant_id: string }
      const pending = await finishLogin(s, request, reply, p.id, request.body.RelayState)
      const login = await verifySamlResponse(s, p, request.body.SAMLResponse, pending.request_id ?? '').catch((e) =>
        signInRefused(s, request, p, 'saml', e).catch((err) => ssoError(request, err)),
      )
      return complete(s, reply, p, login.profile, pending, 'saml', login.link).catch((e) => signInRefused(s, request, p, 'saml', e))
    },
  )

  app.get<{ Params: { idpId: string } }>(
    '/v1/auth/saml/:idpId/metadata',
    {
      config,
      schema: spec({
        summary: 'SAML service-provider metadata',
        tags,
        public: true,
        params: idParams('idpId'),
        produces: ['application/samlmetadata+xml'],
        response: { 200: { type: 'string' } },
      }),
    },
    async (request, reply) => {
      const p = (await provider(s, request.params.idpId, 'saml')) as SamlProvider
      return reply.type('application/samlmetadata+xml').send(await samlMetadata(s, p))
    },
  )
}
