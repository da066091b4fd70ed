/**
 * The SAML SP signing keys of one identity provider: RSA-2048, each with a self-signed X.509 certificate (valid
 * ten years). Private keys are sealed with the master key, bound to the provider's id, and never leave the
 * process; certificates are published in the provider's SP metadata. One set of keys per provider (not per
 * installation) keeps tenants apart: a tenant's IdP admin trusts keys no other tenant's IdP knows, and deleting a
 * provider deletes its keys.
 *
 * Rotation publishes first and switches later, as IdPs that import metadata expect (table `saml_sp_keys`):
 * - `current`: signs (AuthnRequests when `signRequests` is on, every logout message); created the first time the
 *   provider needs a key (its metadata, a signed request, the key listing), whichever replica wins;
 * - `next` (at most one): published after the current one, signs nothing yet, so the IdP can import it;
 * - `previous` (at most one): the key an activation replaced; still published for `PREVIOUS_GRACE_MS` (IdPs
 *   that cache metadata), then left out and deleted (reads skip it at once; the maintenance loop deletes it).
 * Activating makes `next` current at once (and drops an older `previous`). The management routes run these in
 * the transaction that holds the provider row, so rotations of one provider never interleave.
 */
import { createPrivateKey, generateKeyPair, X509Certificate, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { Queryable } from '../db/pool.js'
import { conflict, notFound } from '../errors.js'
import type { Services } from '../services.js'
import { selfSignedCertificate, toPem } from './x509.js'

const generate = promisify(generateKeyPair)
const VALIDITY_MS = 10 * 365 * 24 * 3600_000
/** How long a replaced key stays in the metadata after the next one took over signing. */
export const PREVIOUS_GRACE_MS = 7 * 24 * 3600_000
const purpose = (providerId: string) => `cfp-control/saml-sp-key:${providerId}`
const ORDER = `CASE state WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END`

export type SpKeyState = 'current' | 'next' | 'previous'

/** A row of `saml_sp_keys`. */
export interface SpKeyRow {
  id: string
  provider_id: string
  state: SpKeyState
  private_enc: string
  /** base64 of the certificate's DER, as in `<ds:X509Certificate>` */
  certificate: string
  created_at: Date
  activated_at: Date | null
  published_until: Date | null
}

export interface SpKey {
  privateKey: KeyObject
  /** base64 of the certificate's DER, as in `<ds:X509Certificate>` */
  certificate: string
}

/** The provider's published keys, current first, then next, then previous (unless its grace period is over). */
async function keysOf(q: Queryable, providerId: string, now: number): Promise<SpKeyRow[]> {
  const { rows } = await q.query<SpKeyRow>(
    `SELECT * FROM saml_sp_keys WHERE provider_id = $1 AND (published_until IS NULL OR published_until > $2) ORDER BY ${ORDER}`,
    [providerId, new Date(now)],
  )
  return rows
}

/** A new key for the provider in `state`; nothing (undefined) when it already has a key in that state. */
async function insertKey(s: Services, q: Queryable, providerId: string, state: 'current' | 'next'): Promise<SpKeyRow | undefined> {
  const { privateKey } = await generate('rsa', { modulusLength: 2048 })
  const now = s.clock.now()
  const certificate = selfSignedCertificate({
    privateKey,
    commonName: `CFP SAML SP ${providerId}`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + VALIDITY_MS),
  }).toString('base64')
  const sealed = s.sealer.seal(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), purpose(providerId))
  try {
    // A concurrent creator's INSERT waits for ours and then does nothing: the first key stays.
    const { rows } = await q.query<SpKeyRow>(
      `INSERT INTO saml_sp_keys (provider_id, state, private_enc, certificate, created_at, activated_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (provider_id, state) DO NOTHING RETURNING *`,
      [providerId, state, sealed, certificate, new Date(now), state === 'current' ? new Date(now) : null],
    )
    return rows[0]
  } catch (e) {
    if ((e as { code?: string }).code === '23503') throw notFound('identity provider') // deleted meanwhile
    throw e
  }
}

/** The provider's published keys, current first; the current key is created when it has none. */
export async function spKeys(s: Services, providerId: string, q: Queryable = s.db): Promise<SpKeyRow[]> {
  const rows = await keysOf(q, providerId, s.clock.now())
  if (rows[0]?.state === 'current') return rows
  await insertKey(s, q, providerId, 'current')
  const again = await keysOf(q, providerId, s.clock.now())
  if (again[0]?.state !== 'current') throw notFound('identity provider')
  return again
}

/** The key that signs now: the current one (created when the provider has none). */
export async function spKey(s: Services, p: { id: string }): Promise<SpKey> {
  const current = (await spKeys(s, p.id))[0]!
  return { privateKey: createPrivateKey(s.sealer.open(current.private_enc, purpose(p.id))), certificate: current.certificate }
}

/** What the SP metadata publishes: the current certificate first, then the next and the previous one's. */
export async function publishedCertificates(s: Services, p: { id: string }): Promise<string[]> {
  return (await spKeys(s, p.id)).map((k) => k.certificate)
}

/** Starts a rotation: a `next` key, published from now on; 409 when the provider already has one. */
export async function createNextKey(s: Services, c: Queryable, providerId: string): Promise<SpKeyRow> {
  await spKeys(s, providerId, c)
  const next = await insertKey(s, c, providerId, 'next')
  if (!next) throw conflict('this provider already has a next signing key: activate it, or delete it to start again')
  return next
}

/**
 * The `next` key becomes `current` (it signs from now on); the current one becomes `previous`, published for the
 * grace period (an older previous key is dropped). 409 when there is no next key. Returns the keys after.
 */
export async function activateNextKey(s: Services, c: Queryable, providerId: string): Promise<SpKeyRow[]> {
  const now = s.clock.now()
  const { rows } = await c.query<{ id: string }>("SELECT id FROM saml_sp_keys WHERE provider_id = $1 AND state = 'next'", [providerId])
  const next = rows[0]
  if (!next) throw conflict('this provider has no next signing key to activate: create one first')
  await c.query("DELETE FROM saml_sp_keys WHERE provider_id = $1 AND state = 'previous'", [providerId])
  await c.query("UPDATE saml_sp_keys SET state = 'previous', published_until = $2 WHERE provider_id = $1 AND state = 'current'", [
    providerId,
    new Date(now + PREVIOUS_GRACE_MS),
  ])
  await c.query("UPDATE saml_sp_keys SET state = 'current', activated_at = $2 WHERE id = $1", [next.id, new Date(now)])
  return keysOf(c, providerId, now)
}

/** Deletes the provider's `previous` (ends its grace period now) or `next` key (abandons a rotation); false when it has none. */
export async function deleteKey(s: Services, c: Queryable, providerId: string, state: 'previous' | 'next'): Promise<boolean> {
  const { rowCount } = await c.query('DELETE FROM saml_sp_keys WHERE provider_id = $1 AND state = $2 AND (published_until IS NULL OR published_until > $3)', [
    providerId,
    state,
    new Date(s.clock.now()),
  ])
  return (rowCount ?? 0) > 0
}

/** Deletes previous keys whose grace period is over (maintenance; reads already leave them out). */
export async function pruneSpKeys(s: Services): Promise<void> {
  await s.db.query("DELETE FROM saml_sp_keys WHERE state = 'previous' AND published_until <= $1", [new Date(s.clock.now())])
}

/** A key as the API shows it: the certificate and what describes it, never the private key. */
export function spKeyView(r: SpKeyRow) {
  const der = Buffer.from(r.certificate, 'base64')
  const x = new X509Certificate(der)
  return {
    id: r.id,
    state: r.state,
    certificate: toPem(der),
    fingerprintSha256: x.fingerprint256,
    notBefore: new Date(x.validFrom).toISOString(),
    notAfter: new Date(x.validTo).toISOString(),
    createdAt: r.created_at.toISOString(),
    ...(r.activated_at ? { activatedAt: r.activated_at.toISOString() } : {}),
    ...(r.published_until ? { publishedUntil: r.published_until.toISOString() } : {}),
  }
}
