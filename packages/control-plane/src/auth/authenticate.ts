/**
 * Turns a bearer token into a principal, or refuses: access JWTs (signature, claims, revocation feed, and the
 * tenant's region must equal the token's), project API keys and worker tokens. Installs the `onRequest` hook:
 * every route needs a principal unless its config says `auth: 'public'`; `auth: 'service'` routes take the
 * runtimes' service token instead.
 */
import type { FastifyInstance } from 'fastify'
import { unauthenticated } from '../errors.js'
import type { Principal } from '../policy/types.js'
import type { AccessTokens } from './access.js'
import { credentialPrincipal, isCredentialToken, type Credentials } from './credentials.js'
import type { Revocations } from './revocations.js'
import { safeEqual } from './secrets.js'

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
  interface FastifyContextConfig {
    auth?: 'public' | 'service' | 'user'
  }
}

export class Authenticator {
  constructor(
    private readonly access: AccessTokens,
    private readonly revocations: Revocations,
    private readonly credentials: Credentials,
  ) {}

  async principal(token: string): Promise<Principal> {
    if (isCredentialToken(token)) {
      const c = await this.credentials.verify(token)
      if (!c) throw unauthenticated()
      return credentialPrincipal(c)
    }
    const claims = await this.access.verify(token)
    const { revoked, region } = await this.revocations.check(claims)
    if (revoked) throw unauthenticated()
    if (claims.tid !== undefined && region !== claims.region) throw unauthenticated()
    return {
      kind: 'user',
      id: claims.sub,
      ...(claims.tid ? { tenantId: claims.tid } : {}),
      region: claims.region,
      bindings: claims.rb,
      sessionId: claims.sid,
      tokenId: claims.jti,
    }
  }
}

export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer ([\x21-\x7e]+)$/.exec(header ?? '')
  return m?.[1]
}

export function installAuth(app: FastifyInstance, auth: Authenticator, serviceToken: string | undefined): void {
  app.decorateRequest('principal', undefined)
  app.addHook('onRequest', async (request) => {
    if (request.is404) return
    const mode = request.routeOptions.config.auth ?? 'user'
    if (mode === 'public') return
    const token = bearer(request.headers.authorization)
    if (!token) throw unauthenticated()
    if (mode === 'service') {
      if (!serviceToken || !safeEqual(token, serviceToken)) throw unauthenticated()
      return
    }
    request.principal = await auth.principal(token)
  })
}
