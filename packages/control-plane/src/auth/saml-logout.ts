/**
 * SAML single logout (SAML profiles §4.4) on the HTTP-Redirect binding (and HTTP-POST for what the IdP sends).
 *
 * - SP-initiated: `POST /v1/auth/logout` of a session opened through a SAML provider that has an `sloUrl`
 *   revokes the session and returns a signed LogoutRequest URL naming the login (NameID, SessionIndex); the
 *   IdP's LogoutResponse comes back to `…/slo`, must be signed, answer a pending request of this provider
 *   (consumed once, 10 min) and sends the browser on to the page the logout asked for.
 * - IdP-initiated: a signed LogoutRequest at `…/slo` revokes every live session of that NameID (and
 *   SessionIndex, when given) through the session revocation — refresh tokens die, access tokens enter the
 *   revocation feed — and is answered with a signed LogoutResponse to the IdP's `sloUrl`.
 *
 * Every message must be signed by the IdP's configured key, name the IdP as issuer, be addressed to this
 * provider's SLO endpoint (Destination is required), be fresh (IssueInstant within 10 min) and carry an ID never seen
 * before from this IdP. What we send is always signed with the provider's SP key.
 */
import type { FastifyRequest } from 'fastify'
import { audit } from '../audit/record.js'
import type { Element } from '@xmldom/xmldom'
import type { Queryable } from '../db/pool.js'
import type { Services } from '../services.js'
import { randomToken } from './secrets.js'
import { fromPost, fromRedirect, redirectUrl } from './saml-binding.js'
import { instant, sloEndpoint, spEntityId, type SamlLink, type SamlProvider } from './saml.js'
import { spKey } from './saml-sp-key.js'
import { esc, kids, NS_A, NS_P, one, refuse, SKEW_MS, text, time } from './saml-xml.js'

/** Where the browser goes after a logout when the request named no `return_to`: the workbench's login page. */
export const LOGIN_PAGE = '/__cfp/login'
const PENDING_MS = 10 * 60_000
const MAX_AGE_MS = 10 * 60_000
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success'

/** A message as it arrived at `…/slo`: the whole request URL (redirect binding) or the form fields (POST binding). */
export type Incoming = { binding: 'redirect'; url: string } | { binding: 'post'; message: string; relayState?: string }

const newId = () => '_' + randomToken(20)

/** Opens a session for a login, remembering the SAML login behind it (in the same transaction). */
export async function openSession(s: Services, userId: string, method: string, tenantId: string | undefined, link?: SamlLink, request?: FastifyRequest) {
  return s.db.tx(async (c) => {
    const session = await s.sessions.create(c, userId, method, tenantId)
    await audit(s, c, request, {
      kind: 'auth.login',
      actor: { type: 'user', id: userId, name: null, auth: method === 'saml' ? 'saml' : method === 'oidc' ? 'oidc' : 'password' },
      sid: session.sessionId,
      scope: tenantId ? { tenant: tenantId } : {},
      target: { type: 'user', id: userId },
      details: { method, idp: link?.providerId ?? null },
    })
    if (link) {
      await c.query(
        `INSERT INTO saml_sessions (session_id, provider_id, name_id, name_id_format, name_qualifier, sp_name_qualifier, session_index)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          session.sessionId,
          link.providerId,
          link.nameId,
          link.format ?? null,
          link.nameQualifier ?? null,
          link.spNameQualifier ?? null,
          link.sessionIndex ?? null,
        ],
      )
    }
    return session
  })
}

/** The SAML login behind a session, with its provider when that is enabled and can take a LogoutRequest. */
export async function samlLogoutTarget(q: Queryable, sessionId: string): Promise<{ provider: SamlProvider; link: SamlLink } | undefined> {
  const { rows } = await q.query(
    `SELECT ss.*, row_to_json(i.*) AS provider FROM saml_sessions ss JOIN identity_providers i ON i.id = ss.provider_id
      WHERE ss.session_id = $1 AND i.enabled AND i.kind = 'saml' AND i.config ? 'sloUrl'`,
    [sessionId],
  )
  const r = rows[0]
  if (!r) return undefined
  const link: SamlLink = { providerId: r.provider_id, nameId: r.name_id }
  if (r.name_id_format) link.format = r.name_id_format
  if (r.name_qualifier) link.nameQualifier = r.name_qualifier
  if (r.sp_name_qualifier) link.spNameQualifier = r.sp_name_qualifier
  if (r.session_index) link.sessionIndex = r.session_index
  return { provider: r.provider as SamlProvider, link }
}

/** SP-initiated logout: a signed LogoutRequest URL for the IdP; its answer is awaited for 10 minutes. */
export async function startLogout(s: Services, p: SamlProvider, link: SamlLink, returnTo: string | undefined): Promise<string> {
  const target = p.config.sloUrl!
  const id = newId()
  const nameIdAttrs = [
    ['Format', link.format],
    ['NameQualifier', link.nameQualifier],
    ['SPNameQualifier', link.spNameQualifier],
  ]
    .filter(([, v]) => v)
    .map(([k, v]) => ` ${k}="${esc(v!)}"`)
    .join('')
  const xml =
    `<samlp:LogoutRequest xmlns:samlp="${NS_P}" xmlns:saml="${NS_A}" ID="${id}" Version="2.0" IssueInstant="${instant(s)}" ` +
    `Destination="${esc(target)}" NotOnOrAfter="${new Date(s.clock.now() + PENDING_MS).toISOString()}">` +
    `<saml:Issuer>${esc(spEntityId(s, p.id))}</saml:Issuer><saml:NameID${nameIdAttrs}>${esc(link.nameId)}</saml:NameID>` +
    (link.sessionIndex ? `<samlp:SessionIndex>${esc(link.sessionIndex)}</samlp:SessionIndex>` : '') +
    `</samlp:LogoutRequest>`
  const url = redirectUrl(target, 'SAMLRequest', xml, undefined, (await spKey(s, p)).privateKey)
  await s.db.query('INSERT INTO saml_logout_requests (request_id, provider_id, return_to, expires_at) VALUES ($1, $2, $3, $4)', [
    id,
    p.id,
    returnTo ?? null,
    new Date(s.clock.now() + PENDING_MS),
  ])
  return url
}

/** Verifies the binding's signature and the checks every logout message shares; returns the signed root. */
async function receive(s: Services, p: SamlProvider, m: Incoming, kind: 'LogoutRequest' | 'LogoutResponse') {
  const cert = p.config.idpCertificate
  const param = kind === 'LogoutRequest' ? 'SAMLRequest' : 'SAMLResponse'
  const got = m.binding === 'redirect' ? fromRedirect(m.url, param, cert) : { root: fromPost(m.message, kind, cert), relayState: m.relayState }
  const root: Element = got.root
  if (root.localName !== kind || root.namespaceURI !== NS_P) refuse(`not a ${kind}`, 'malformed')
  if (root.getAttribute('Version') !== '2.0') refuse('not SAML 2.0', 'malformed')
  const id = root.getAttribute('ID') || refuse(`${kind} without ID`, 'malformed')
  if (text(one(root, NS_A, 'Issuer')) !== p.config.idpEntityId) refuse(`the ${kind} names another issuer`, 'wrong_issuer')
  // Required: a signed message must name where it was sent (SAML bindings §3.4.5.2, §3.5.5.2). Without it, a
  // message for one provider would be valid at every other provider that trusts the same IdP (another tenant's).
  const destination = root.getAttribute('Destination')
  if (destination !== sloEndpoint(s, p.id)) refuse(`the ${kind} is addressed to ${destination || 'no destination'}`, 'wrong_destination')
  const now = s.clock.now()
  const issued = time(root, 'IssueInstant') ?? refuse(`${kind} without IssueInstant`, 'malformed')
  if (issued > now + SKEW_MS || issued < now - MAX_AGE_MS - SKEW_MS) refuse(`the ${kind} was issued at ${new Date(issued).toISOString()}`, 'expired')
  if ((time(root, 'NotOnOrAfter') ?? Infinity) <= now - SKEW_MS) refuse(`the ${kind} has expired`, 'expired')
  const { rowCount } = await s.db.query('INSERT INTO saml_assertions_seen (provider_id, assertion_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
    p.id,
    id,
    new Date(issued + MAX_AGE_MS + 2 * SKEW_MS),
  ])
  if (!rowCount) refuse(`the ${kind} ${id} was seen before`, 'replayed')
  return { root, id, relayState: got.relayState }
}

/**
 * IdP-initiated logout: revokes the NameID's live sessions of this provider (only those of the listed
 * SessionIndexes, when any are listed) and returns where to send the browser: a signed LogoutResponse to the
 * IdP's `sloUrl`, or (none configured) the login page.
 */
export async function handleLogoutRequest(
  s: Services,
  p: SamlProvider,
  m: Incoming,
  request?: FastifyRequest,
): Promise<{ location: string; revoked: string[] }> {
  const { root, id, relayState } = await receive(s, p, m, 'LogoutRequest')
  if (kids(root, NS_A, 'EncryptedID').length || kids(root, NS_A, 'BaseID').length) refuse('only a plain NameID is supported', 'unsupported')
  const nameId = text(one(root, NS_A, 'NameID'))
  const indexes = kids(root, NS_P, 'SessionIndex').map(text)
  const revoked = await s.db.tx(async (c) => {
    const { rows } = await c.query<{ session_id: string }>(
      `SELECT ss.session_id FROM saml_sessions ss JOIN sessions se ON se.id = ss.session_id
        WHERE ss.provider_id = $1 AND ss.name_id = $2 AND se.revoked_at IS NULL
          AND (cardinality($3::text[]) = 0 OR ss.session_index = ANY($3::text[]))
        ORDER BY ss.session_id FOR UPDATE OF se`,
      [p.id, nameId, indexes],
    )
    for (const r of rows) {
      await s.sessions.revokeIn(c, r.session_id, 'saml_logout')
      await audit(s, c, request, {
        kind: 'auth.logout',
        actor: { type: 'service', id: p.id, name: 'SAML identity provider', auth: 'saml' },
        sid: r.session_id,
        scope: { tenant: p.tenant_id },
        target: { type: 'session', id: r.session_id },
        details: { method: 'saml_slo', idp: p.id },
      })
    }
    return rows.map((r) => r.session_id)
  })
  const target = p.config.sloUrl
  if (!target) return { location: LOGIN_PAGE, revoked }
  const xml =
    `<samlp:LogoutResponse xmlns:samlp="${NS_P}" xmlns:saml="${NS_A}" ID="${newId()}" Version="2.0" IssueInstant="${instant(s)}" ` +
    `Destination="${esc(target)}" InResponseTo="${esc(id)}"><saml:Issuer>${esc(spEntityId(s, p.id))}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${SUCCESS}"/></samlp:Status></samlp:LogoutResponse>`
  return { location: redirectUrl(target, 'SAMLResponse', xml, relayState, (await spKey(s, p)).privateKey), revoked }
}

/**
 * The IdP's answer to our LogoutRequest: consumes the pending request it answers and returns where the logout
 * asked to go (`slo=partial` added when the IdP could not end every session).
 */
export async function handleLogoutResponse(s: Services, p: SamlProvider, m: Incoming): Promise<string> {
  const { root } = await receive(s, p, m, 'LogoutResponse')
  const answers = root.getAttribute('InResponseTo') || refuse('the LogoutResponse answers no request', 'unknown_request')
  const { rows } = await s.db.query<{ return_to: string | null; expires_at: Date }>(
    'DELETE FROM saml_logout_requests WHERE request_id = $1 AND provider_id = $2 RETURNING return_to, expires_at',
    [answers, p.id],
  )
  const pending = rows[0]
  if (!pending || pending.expires_at.getTime() <= s.clock.now()) refuse('the LogoutResponse answers no pending logout of this provider', 'unknown_request')
  const status = one(one(root, NS_P, 'Status'), NS_P, 'StatusCode').getAttribute('Value')
  const to = pending!.return_to ?? LOGIN_PAGE
  return status === SUCCESS ? to : `${to}${to.includes('?') ? '&' : '?'}slo=partial`
}
