/**
 * The SAML SP signing key of one identity provider: RSA-2048 with a self-signed X.509 certificate (valid ten
 * years), created the first time the provider needs it (its metadata, a signed AuthnRequest, a logout
 * message). The private key is sealed with the master key, bound to the provider's id, and never leaves the
 * process; the certificate is published in the provider's SP metadata. One key per provider (not per
 * installation) keeps tenants apart: a tenant's IdP admin trusts a key no other tenant's IdP knows, and
 * deleting a provider deletes its key.
 */
import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { notFound } from '../errors.js'
import type { Services } from '../services.js'
import { selfSignedCertificate } from './x509.js'

const generate = promisify(generateKeyPair)
const VALIDITY_MS = 10 * 365 * 24 * 3600_000
const purpose = (providerId: string) => `cfp-control/saml-sp-key:${providerId}`

/** The provider row's key columns (`SELECT *` of identity_providers). */
export interface SpKeyRow {
  id: string
  sp_key_enc?: string | null
  sp_certificate?: string | null
}

export interface SpKey {
  privateKey: KeyObject
  /** base64 of the certificate's DER, as in `<ds:X509Certificate>` */
  certificate: string
}

function open(s: Services, id: string, sealed: string, certificate: string): SpKey {
  return { privateKey: createPrivateKey(s.sealer.open(sealed, purpose(id))), certificate }
}

/** The provider's SP key, created (once, whichever replica wins) when it has none. */
export async function spKey(s: Services, p: SpKeyRow): Promise<SpKey> {
  if (p.sp_key_enc && p.sp_certificate) return open(s, p.id, p.sp_key_enc, p.sp_certificate)
  const { privateKey } = await generate('rsa', { modulusLength: 2048 })
  const now = s.clock.now()
  const certificate = selfSignedCertificate({
    privateKey,
    commonName: `CFP SAML SP ${p.id}`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + VALIDITY_MS),
  }).toString('base64')
  const sealed = s.sealer.seal(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), purpose(p.id))
  // A concurrent creator's UPDATE waits for ours and then finds sp_key_enc set: the first key stays.
  await s.db.query('UPDATE identity_providers SET sp_key_enc = $2, sp_certificate = $3 WHERE id = $1 AND sp_key_enc IS NULL', [
    p.id,
    sealed,
    certificate,
  ])
  const { rows } = await s.db.query<{ sp_key_enc: string; sp_certificate: string }>(
    'SELECT sp_key_enc, sp_certificate FROM identity_providers WHERE id = $1',
    [p.id],
  )
  const row = rows[0]
  if (!row) throw notFound('identity provider')
  p.sp_key_enc = row.sp_key_enc
  p.sp_certificate = row.sp_certificate
  return open(s, p.id, row.sp_key_enc, row.sp_certificate)
}
