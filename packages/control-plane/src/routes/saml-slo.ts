/**
 * `GET|POST /v1/auth/saml/:idpId/slo`: the SAML single-logout endpoint of a provider (HTTP-Redirect and
 * HTTP-POST bindings). A LogoutRequest from the IdP revokes the NameID's sessions and is answered with a signed
 * LogoutResponse (a redirect to the IdP); a LogoutResponse answering our LogoutRequest sends the browser on to
 * the login page (or the logout's `return_to`). A refused message answers `slo_failed` with a stable
 * `details.reason` (saml-xml.ts `SamlReason`): 400 for `malformed`, 401 otherwise. A disabled provider (no new
 * logins) still takes logout messages: sessions opened through it before must end when the user logs out there.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { handleLogoutRequest, handleLogoutResponse, type Incoming } from '../auth/saml-logout.js'
import type { SamlProvider } from '../auth/saml.js'
import { SamlError, type SamlReason } from '../auth/saml-xml.js'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import { body, idParams, spec } from './schema.js'
import { provider } from './sso.js'

const MESSAGE = { type: 'string', maxLength: 500_000 }
const RELAY_STATE = { type: 'string', maxLength: 1000 }

/** The public reason of a refusal, per `details.reason` (the details, which quote the message, go to the log). */
const EXPLAIN: Record<SamlReason, string> = {
  refused: 'the message was refused',
  malformed: 'not a readable SAML logout message (one of SAMLRequest or SAMLResponse, DEFLATEd/base64 XML without DTD)',
  unsigned: 'the message is not signed',
  signature_algorithm: 'only RSA-SHA256/512 signatures with SHA-256/512 digests are accepted',
  bad_signature: 'the signature does not verify with the configured IdP certificate, or does not cover the message',
  wrong_issuer: 'the message is not from the configured IdP',
  wrong_destination: "the message's Destination is not this provider's single-logout endpoint",
  expired: 'the message is too old, from the future, or past NotOnOrAfter',
  replayed: 'this message was received before',
  unknown_request: 'the LogoutResponse answers no pending logout of this provider',
  unsupported: 'only a plain NameID is supported',
}

export function samlLogoutRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['sso']
  const config = { auth: 'public' as const }
  const redirect = { 302: { type: 'null', description: 'to the IdP with a signed LogoutResponse, or to the login page' } }

  async function handle(request: FastifyRequest, reply: FastifyReply, p: SamlProvider, fields: { request: boolean; response: boolean }, m: Incoming) {
    try {
      if (fields.request === fields.response) throw new SamlError('send exactly one of SAMLRequest and SAMLResponse', 'malformed')
      if (fields.request) {
        const { location, revoked } = await handleLogoutRequest(s, p, m, request)
        request.log.info({ provider: p.id, sessions: revoked.length }, 'SAML logout requested by the IdP')
        return reply.redirect(location, 302)
      }
      return reply.redirect(await handleLogoutResponse(s, p, m), 302)
    } catch (err) {
      if (!(err instanceof SamlError)) throw err
      request.log.warn({ provider: p.id, reason: err.reason, why: err.message }, 'SAML logout message refused')
      // the answer says why in fixed words only: err.message quotes the message (destination, id, XML errors)
      throw new ApiError(err.reason === 'malformed' ? 400 : 401, 'slo_failed', `SAML logout refused: ${EXPLAIN[err.reason]}`, { reason: err.reason })
    }
  }

  app.get<{ Params: { idpId: string }; Querystring: Record<string, string> }>(
    '/v1/auth/saml/:idpId/slo',
    {
      config,
      schema: spec({
        summary: 'SAML single logout, HTTP-Redirect binding: a signed LogoutRequest or LogoutResponse from the IdP',
        tags,
        public: true,
        params: idParams('idpId'),
        querystring: {
          type: 'object',
          properties: {
            SAMLRequest: MESSAGE,
            SAMLResponse: MESSAGE,
            RelayState: RELAY_STATE,
            SigAlg: { type: 'string', maxLength: 200 },
            Signature: { type: 'string', maxLength: 2000 },
          },
          additionalProperties: { type: 'string' },
        },
        response: redirect,
      }),
    },
    async (request, reply) => {
      const p = (await provider(s, request.params.idpId, 'saml', { disabled: true })) as SamlProvider
      const q = request.query
      return handle(
        request,
        reply,
        p,
        { request: q.SAMLRequest !== undefined, response: q.SAMLResponse !== undefined },
        { binding: 'redirect', url: request.url },
      )
    },
  )

  app.post<{ Params: { idpId: string }; Body: { SAMLRequest?: string; SAMLResponse?: string; RelayState?: string } }>(
    '/v1/auth/saml/:idpId/slo',
    {
      config,
      schema: spec({
        summary: 'SAML single logout, HTTP-POST binding: a LogoutRequest or LogoutResponse with an enveloped XML signature',
        tags,
        public: true,
        params: idParams('idpId'),
        consumes: ['application/x-www-form-urlencoded'],
        body: body({ SAMLRequest: MESSAGE, SAMLResponse: MESSAGE, RelayState: RELAY_STATE }),
        response: redirect,
      }),
    },
    async (request, reply) => {
      const p = (await provider(s, request.params.idpId, 'saml', { disabled: true })) as SamlProvider
      const b = request.body
      const fields = { request: b.SAMLRequest !== undefined, response: b.SAMLResponse !== undefined }
      const message = b.SAMLRequest ?? b.SAMLResponse ?? ''
      return handle(request, reply, p, fields, { binding: 'post', message, ...(b.RelayState !== undefined ? { relayState: b.RelayState } : {}) })
    },
  )
}
