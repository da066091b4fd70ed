/**
 * OIDC relying party (authorization code flow with PKCE S256, state and nonce) through `openid-client`.
 * Discovery results are cached per provider for 10 minutes. Plain-http issuers are accepted only on loopback,
 * and only with `--allow-loopback-idp` (otherwise a tenant admin could point the control plane at local services).
 * Every request to the IdP (discovery, token, userinfo, JWKS) goes through `guardedFetch`: only to public
 * addresses unless the options allow loopback or private ones (outbound.ts).
 */
import { createHash } from 'node:crypto'
import * as client from 'openid-client'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import { guardedFetch, OutboundRefused } from './outbound.js'
import type { ExternalProfile } from './provision.js'

export interface OidcProvider {
  id: string
  tenant_id: string
  config: { issuer: string; clientId: string; scopes?: string[]; groupsClaim?: string; trustEmail?: boolean }
  secret: string
}

/**
 * Discovery per provider, for 10 minutes. The key holds what the configuration was built from (issuer, client
 * id, a hash of the secret), so a provider changed through `PATCH /v1/idps/{id}` is discovered again at its
 * next login, on every replica.
 */
const cache = new Map<string, { at: number; key: string; config: client.Configuration }>()
const cacheKey = (p: OidcProvider) => [p.config.issuer, p.config.clientId, createHash('sha256').update(p.secret).digest('base64')].join('\n')

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
}

async function configuration(s: Services, p: OidcProvider): Promise<client.Configuration> {
  const key = cacheKey(p)
  const hit = cache.get(p.id)
  if (hit && hit.key === key && Date.now() - hit.at < 600_000) return hit.config
  const issuer = new URL(p.config.issuer)
  const insecure = issuer.protocol === 'http:' && isLoopback(issuer) && s.options.allowLoopbackIdp
  if (issuer.protocol !== 'https:' && !insecure) throw new ApiError(502, 'sso_failed', 'the identity provider must use https')
  const policy = { allowLoopback: s.options.allowLoopbackIdp, allowPrivate: s.options.allowPrivateIdpAddresses }
  const config = await client
    .discovery(issuer, p.config.clientId, p.secret, client.ClientSecretBasic(p.secret), {
      ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
      timeout: 10,
      [client.customFetch]: guardedFetch(policy) as client.CustomFetch,
    })
    .catch((err: unknown) => {
      throw refusedAddress(err) ?? err
    })
  cache.set(p.id, { at: Date.now(), key, config })
  return config
}

/** `sso_failed` naming the refused address class, when the cause of `err` is an OutboundRefused. */
export function refusedAddress(err: unknown): ApiError | undefined {
  for (let e = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (e instanceof OutboundRefused) {
      const allow = e.addressClass === 'private' || e.addressClass === 'loopback' ? ' (allowed only with --allow-private-idp-addresses)' : ''
      return new ApiError(502, 'sso_failed', `the identity provider's host is (or resolves to) a ${e.addressClass} address; refused${allow}`)
    }
  }
  return undefined
}

export const callbackUrl = (s: Services, providerId: string) => `${s.options.publicUrl}/v1/auth/oidc/${providerId}/callback`

export async function authorizationUrl(s: Services, p: OidcProvider, state: string, codeVerifier: string, nonce: string): Promise<string> {
  const config = await configuration(s, p)
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: callbackUrl(s, p.id),
    scope: ['openid', 'email', 'profile', ...(p.config.scopes ?? [])].join(' '),
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  return url.href
}

/** Redeems the code (checking state, nonce and PKCE) and returns who logged in. */
export async function redeem(
  s: Services,
  p: OidcProvider,
  currentUrl: URL,
  expected: { state: string; nonce: string; codeVerifier: string },
): Promise<ExternalProfile> {
  const config = await configuration(s, p)
  const tokens = await client.authorizationCodeGrant(config, currentUrl, {
    expectedState: expected.state,
    expectedNonce: expected.nonce,
    pkceCodeVerifier: expected.codeVerifier,
    idTokenExpected: true,
  })
  const claims = tokens.claims()
  if (!claims) throw new ApiError(401, 'sso_failed', 'the identity provider returned no ID token')
  let merged: Record<string, unknown> = { ...claims }
  const groupsClaim = p.config.groupsClaim ?? 'groups'
  if ((claims.email === undefined || claims.email_verified === undefined || claims[groupsClaim] === undefined) && tokens.access_token) {
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
    merged = { ...info, ...claims }
  }
  const groups = merged[groupsClaim]
  return {
    subject: claims.sub,
    email: typeof merged.email === 'string' ? merged.email : '',
    // some IdPs send the claim as a string; anything but true (or "true") is unverified
    emailVerified: merged.email_verified === true || merged.email_verified === 'true',
    displayName: typeof merged.name === 'string' ? merged.name : '',
    groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [],
  }
}
