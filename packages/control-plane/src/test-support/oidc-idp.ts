/**
 * A real OpenID Provider (the `oidc-provider` package) on a loopback port for tests. Its interaction step
 * logs in `nextAccount` without a form. `start()` listens first so the issuer URL is known; `configure()`
 * then registers the relying party's redirect URI.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import Provider from 'oidc-provider'

export interface Account {
  sub: string
  email: string
  name?: string
  groups: string[]
  /** The `email_verified` claim (default true); null leaves the claim out. */
  emailVerified?: boolean | null
}

export class TestOidcIdp {
  issuer = ''
  clientId = 'cfp-control'
  clientSecret = 'cfp-control-secret-0123456789'
  nextAccount: Account = { sub: 'alice', email: 'alice@corp.example', groups: [] }
  private server: Server = createServer((_req, res) => res.writeHead(503).end())

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async configure(redirectUri: string): Promise<void> {
    const accounts = () => this.nextAccount
    const { privateKey } = await generateKeyPair('RS256', { extractable: true })
    const provider = new Provider(this.issuer, {
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'test', alg: 'RS256', use: 'sig' } as never] },
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
      clients: [
        {
          client_id: this.clientId,
          client_secret: this.clientSecret,
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      pkce: { required: () => true },
      scopes: ['openid', 'email', 'profile', 'groups'],
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      cookies: { keys: ['test-cookie-key'] },
      findAccount: async (_ctx, id) => ({
        accountId: id,
        claims: async () => {
          const a = accounts()
          const verified = a.emailVerified === undefined ? { email_verified: true } : a.emailVerified === null ? {} : { email_verified: a.emailVerified }
          return { sub: id, email: a.email, ...verified, name: a.name ?? a.sub, groups: a.groups }
        },
      }),
    })
    provider.use(async (ctx, next) => {
      if (!/^\/interaction\/[^/]+$/.test(ctx.path)) return next()
      const details = await provider.interactionDetails(ctx.req, ctx.res)
      const accountId = accounts().sub
      const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) })
      grant.addOIDCScope(String(details.params.scope))
      const grantId = await grant.save()
      const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false })
      ctx.redirect(to)
    })
    this.server.removeAllListeners('request')
    this.server.on('request', provider.callback())
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((r) => this.server.close(() => r()))
  }
}
