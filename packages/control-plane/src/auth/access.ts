/**
 * Access tokens: ES256 JWTs (`typ: at+jwt`, `kid`) of at most 15 minutes, carrying the tenant (`tid`), its
 * `region` and the user's role bindings (`rb`) in that tenant plus system-wide ones. Verification pins the
 * algorithm (no `none`, no HMAC confusion), issuer, audience and lifetime.
 *
 * Two disjoint audiences: a control-plane token (`aud: cfp-control`, what logins and refreshes issue) is valid
 * here only; a runtime token (`aud: cfp-runtime`, obtained by exchanging a control-plane token at
 * `POST /v1/tokens/runtime`, at most 5 minutes) is valid at runtimes only. A token naming the runtime's
 * audience is refused here whatever else it names, so a token that tenant code on a runtime could see is
 * worth nothing against the control plane.
 */
import { randomUUID } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import { unauthenticated } from '../errors.js'
import type { Binding } from '../policy/types.js'
import { ALG, type SigningKeys } from './keys.js'

export const AUDIENCE_CONTROL = 'cfp-control'
export const AUDIENCE_RUNTIME = 'cfp-runtime'
export const MAX_ACCESS_TTL = 900
/** Runtime tokens live at most this long (and never beyond the control-plane token they were exchanged for). */
export const RUNTIME_TOKEN_TTL = 300

export interface AccessClaims {
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
  tid?: string
  region: string
  rb: Binding[]
}

export interface IssueInput {
  userId: string
  sessionId: string
  tenantId?: string
  region: string
  bindings: Binding[]
  /** never issue with an `iat` below this (a `user` revocation in the current second) */
  minIat?: number
}

export interface RuntimeIssueInput extends IssueInput {
  /** Unix seconds the runtime token may live to at most (the exchanged control-plane token's `exp`). */
  notAfter: number
}

export class AccessTokens {
  constructor(
    private readonly keys: SigningKeys,
    private readonly clock: Clock,
    /** a function when the issuer is known only once the server listens (`--port 0` without `--public-url`) */
    private readonly issuerOf: string | (() => string),
    private readonly ttl: number,
  ) {
    if (ttl > MAX_ACCESS_TTL) throw new Error('access tokens live at most 900 s')
  }

  private get issuer(): string {
    return typeof this.issuerOf === 'string' ? this.issuerOf : this.issuerOf()
  }

  /** A control-plane token (audience `cfp-control` only). */
  async issue(input: IssueInput): Promise<{ token: string; expiresIn: number; jti: string }> {
    return this.sign(input, AUDIENCE_CONTROL, this.ttl)
  }

  /**
   * A runtime token (audience `cfp-runtime` only) with the same subject, session, tenant and bindings, living
   * at most {@link RUNTIME_TOKEN_TTL} and never past `notAfter`.
   */
  async issueRuntime(input: RuntimeIssueInput): Promise<{ token: string; expiresIn: number; jti: string }> {
    const now = Math.max(Math.floor(this.clock.now() / 1000), input.minIat ?? 0)
    const ttl = Math.min(RUNTIME_TOKEN_TTL, this.ttl, input.notAfter - now)
    if (ttl < 1) throw unauthenticated()
    return this.sign(input, AUDIENCE_RUNTIME, ttl)
  }

  private async sign(input: IssueInput, audience: string, ttl: number): Promise<{ token: string; expiresIn: number; jti: string }> {
    const { kid, key } = await this.keys.signer()
    const iat = Math.max(Math.floor(this.clock.now() / 1000), input.minIat ?? 0)
    const jti = randomUUID()
    const payload: Record<string, unknown> = { sid: input.sessionId, region: input.region, rb: input.bindings }
    if (input.tenantId) payload.tid = input.tenantId
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: ALG, kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setSubject(input.userId)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttl)
      .sign(key)
    return { token, expiresIn: ttl, jti }
  }

  /**
   * Verifies signature and claims; throws `unauthenticated` on any problem (the reason stays in the log). With
   * the control plane's audience (the default), a token that also names the runtime's is refused.
   */
  async verify(token: string, audience = AUDIENCE_CONTROL): Promise<AccessClaims> {
    let payload: JWTPayload
    try {
      const result = await jwtVerify(
        token,
        async (header) => {
          if (header.alg !== ALG || typeof header.kid !== 'string') throw new joseErrors.JOSEAlgNotAllowed('bad header')
          const key = await this.keys.verificationKey(header.kid)
          if (!key) throw new joseErrors.JWKSNoMatchingKey()
          return key
        },
        {
          issuer: this.issuer,
          audience,
          algorithms: [ALG],
          typ: 'at+jwt',
          currentDate: new Date(this.clock.now()),
          requiredClaims: ['sub', 'jti', 'iat', 'exp'],
        },
      )
      payload = result.payload
    } catch {
      throw unauthenticated()
    }
    const audiences = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? [])
    if (audience === AUDIENCE_CONTROL && audiences.includes(AUDIENCE_RUNTIME)) throw unauthenticated()
    return checkClaims(payload)
  }
}

function checkClaims(p: JWTPayload): AccessClaims {
  const ok =
    typeof p.sub === 'string' &&
    typeof p.jti === 'string' &&
    typeof p.iat === 'number' &&
    typeof p.exp === 'number' &&
    p.exp - p.iat <= MAX_ACCESS_TTL &&
    typeof p.sid === 'string' &&
    typeof p.region === 'string' &&
    (p.tid === undefined || typeof p.tid === 'string') &&
    Array.isArray(p.rb) &&
    p.rb.every(
      (b: unknown) =>
        typeof b === 'object' &&
        b !== null &&
        typeof (b as Binding).role === 'string' &&
        typeof (b as Binding).scope === 'object' &&
        (p.tid === undefined ? (b as Binding).scope.tenant === undefined : [undefined, p.tid].includes((b as Binding).scope.tenant)),
    )
  if (!ok) throw unauthenticated()
  return p as unknown as AccessClaims
}
