/**
 * Rotating a SAML provider's SP signing key against the test IdP, which imports the SP metadata: a next key
 * is published first (both certificates in the metadata, requests still signed with the old key), activation
 * switches signing at once (an IdP that only knows the old certificate refuses the new signature), the
 * replaced key stays published for the grace period (or until deleted) and is then dropped. RBAC like every
 * provider route; never a private key in an answer.
 */
import { generateKeyPairSync, randomBytes, randomUUID, X509Certificate } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock.js'
import { migrate, readMigrations } from '../db/migrate.js'
import { openDb } from '../db/pool.js'
import { Browser } from '../test-support/browser.js'
import { createHarness, DB_URL, type Harness } from '../test-support/harness.js'
import { TestSamlIdp } from '../test-support/saml-idp.js'
import { seedWorld, type World } from '../test-support/world.js'
import { maintenance } from '../server.js'
import { PREVIOUS_GRACE_MS } from './saml-sp-key.js'
import { Sealer } from './secrets.js'
import { selfSignedCertificate } from './x509.js'

const clock = new ManualClock()
let h: Harness
let w: World
let admin: string
let idpId: string
/** the IdP the provider is configured with (its signing key, its URLs) */
const corp = new TestSamlIdp()
corp.requireSignedRequests = true
/** every answer of a key route, checked for private keys at the end */
const bodies: string[] = []

beforeAll(async () => {
  h = await createHarness({ listen: true, clock })
  w = await seedWorld(h)
  admin = w.byName('t_admin').token
  idpId = await addProvider('rotating-saml')
})
afterAll(async () => h?.close())

async function addProvider(name: string, kind: 'saml' | 'oidc' = 'saml'): Promise<string> {
  const body =
    kind === 'saml'
      ? { kind, name, saml: { ssoUrl: corp.ssoUrl, idpEntityId: corp.entityId, idpCertificate: corp.publicKeyPem, sloUrl: corp.sloUrl } }
      : { kind, name, clientSecret: 's', oidc: { issuer: 'https://idp.example.test', clientId: 'cfp' } }
  const res = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/idps`, { token: admin, body })
  expect(res.status, res.body).toBe(201)
  return res.json.id
}

interface KeyView {
  id: string
  state: 'current' | 'next' | 'previous'
  certificate: string
  fingerprintSha256: string
  notBefore: string
  notAfter: string
  createdAt: string
  activatedAt?: string
  publishedUntil?: string
}

const base = (id = idpId) => `${h.url}/v1/auth/saml/${id}`
const metadata = async (id = idpId) => (await fetch(`${base(id)}/metadata`)).text()
const certsIn = (xml: string) => [...xml.matchAll(/<md:KeyDescriptor use="signing">[\s\S]*?<ds:X509Certificate>([^<]+)</g)].map((m) => m[1]!)
const fingerprint = (b64: string) => new X509Certificate(Buffer.from(b64, 'base64')).fingerprint256
async function call(method: string, path: string, token = admin) {
  const res = await h.request(method, `/v1/idps/${idpId}/saml/signing-keys${path}`, { token })
  bodies.push(res.body)
  return res
}
const keys = async (token = admin): Promise<KeyView[]> => {
  const res = await call('GET', '', token)
  expect(res.status, res.body).toBe(200)
  return res.json.items
}
/** The AuthnRequest URL of a fresh login at the provider. */
const authnRequest = async () => (await new Browser().go(`${base()}/login`)).headers.get('location')!

/** A SAML login through `idp` (which checks the AuthnRequest's signature) and the session's SP-initiated logout URL. */
async function loginAndLogout(idp: TestSamlIdp): Promise<string> {
  const b = new Browser()
  const started = await b.go(`${base()}/login`)
  const { id, relayState } = idp.receiveAuthnRequest(started.headers.get('location')!)
  const xml = idp.responseXml({ requestId: id, acs: `${base()}/acs`, audience: `${base()}/metadata`, email: `r-${randomUUID()}@corp.example` })
  const res = await b.go(`${base()}/acs`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: relayState! }).toString(),
  })
  expect(res.status).toBe(200)
  const access = ((await res.json()) as { access_token: string }).access_token
  const out = await h.request('POST', '/v1/auth/logout', { token: access, body: {} })
  expect(out.status, out.body).toBe(200)
  return out.json.idpLogoutUrl
}

describe('SP signing key rotation', () => {
  it('publishes the next key first, switches signing at activation, keeps the previous key published until deleted', async () => {
    // an IdP imports the metadata: one certificate, the current key's
    const before = await metadata()
    expect(certsIn(before)).toHaveLength(1)
    const idp = corp
    const oldCert = idp.trustSp(before)
    const [current] = await keys()
    expect(current).toMatchObject({ state: 'current', fingerprintSha256: oldCert.fingerprint256, activatedAt: expect.any(String) })
    expect(current!.certificate).toMatch(/^-----BEGIN CERTIFICATE-----\n/)
    expect(new X509Certificate(current!.certificate).fingerprint256).toBe(oldCert.fingerprint256)
    expect(Date.parse(current!.notAfter) - Date.parse(current!.notBefore)).toBeGreaterThan(9.9 * 365 * 24 * 3600_000)
    // an IdP that imported the metadata before the rotation and never again
    const stale = new TestSamlIdp()
    stale.requireSignedRequests = true
    stale.trustSp(before)

    // 1. a next key: published after the current one, signing nothing yet
    const created = await call('POST', '')
    expect(created.status, created.body).toBe(201)
    const next: KeyView = created.json
    expect(next).toMatchObject({ state: 'next', createdAt: expect.any(String) })
    expect(next.activatedAt).toBeUndefined()
    expect(next.fingerprintSha256).not.toBe(oldCert.fingerprint256)
    const again = await call('POST', '')
    expect(again.status).toBe(409)
    expect(again.json.error.code).toBe('conflict')
    expect((await keys()).map((k) => [k.state, k.fingerprintSha256])).toEqual([
      ['current', oldCert.fingerprint256],
      ['next', next.fingerprintSha256],
    ])
    const during = await metadata()
    expect(certsIn(during).map(fingerprint)).toEqual([oldCert.fingerprint256, next.fingerprintSha256])
    expect(idp.trustSp(during).fingerprint256).toBe(oldCert.fingerprint256) // the IdP re-imports: both certificates
    expect(idp.spCertificates.map((c) => c.fingerprint256)).toEqual([oldCert.fingerprint256, next.fingerprintSha256])
    for (const who of [idp, stale]) expect(who.receiveAuthnRequest(await authnRequest()).signedBy!.fingerprint256).toBe(oldCert.fingerprint256)
    expect(idp.receiveLogoutRequest(await loginAndLogout(idp)).signedBy.fingerprint256).toBe(oldCert.fingerprint256)

    // 2. activation: the next key signs at once, the old one stays published as previous for the grace period
    const activated = await call('POST', '/activate')
    expect(activated.status, activated.body).toBe(200)
    const after: KeyView[] = activated.json.items
    expect(after.map((k) => [k.state, k.fingerprintSha256])).toEqual([
      ['current', next.fingerprintSha256],
      ['previous', oldCert.fingerprint256],
    ])
    expect(Date.parse(after[0]!.activatedAt!)).toBe(clock.now())
    expect(Date.parse(after[1]!.publishedUntil!)).toBe(clock.now() + PREVIOUS_GRACE_MS)
    expect(certsIn(await metadata()).map(fingerprint)).toEqual([next.fingerprintSha256, oldCert.fingerprint256])
    const loc = await authnRequest()
    expect(idp.receiveAuthnRequest(loc).signedBy!.fingerprint256).toBe(next.fingerprintSha256)
    // proof of the switch: an IdP that knows only the old certificate refuses the new signature…
    expect(() => stale.receiveAuthnRequest(loc)).toThrow(/does not verify/)
    // …and one that knows only the new certificate accepts it
    const fresh = new TestSamlIdp()
    fresh.spCertificates = [new X509Certificate(next.certificate)]
    expect(fresh.receiveAuthnRequest(loc).signed).toBe(true)
    // logout messages are signed with the new key too
    const logout = await loginAndLogout(idp)
    expect(idp.receiveLogoutRequest(logout).signedBy.fingerprint256).toBe(next.fingerprintSha256)
    expect(() => stale.receiveLogoutRequest(logout)).toThrow(/does not verify/)
    expect((await call('POST', '/activate')).status).toBe(409) // nothing left to activate

    // 3. the previous key dropped before its grace period ends
    expect((await call('DELETE', '/previous')).status).toBe(204)
    expect(certsIn(await metadata()).map(fingerprint)).toEqual([next.fingerprintSha256])
    expect((await keys()).map((k) => k.state)).toEqual(['current'])
    const gone = await call('DELETE', '/previous')
    expect(gone.status).toBe(404)
    expect(gone.json.error.code).toBe('not_found')
    expect(idp.receiveAuthnRequest(await authnRequest()).signedBy!.fingerprint256).toBe(next.fingerprintSha256)
  })

  it('drops the previous key after the grace period; a next key can be abandoned; a new activation replaces the previous key', async () => {
    const first = (await keys())[0]!
    const second = (await call('POST', '')).json as KeyView
    expect((await call('POST', '/activate')).status).toBe(200)
    // a next key abandoned: deleted, never signs, gone from the metadata
    const abandoned = (await call('POST', '')).json as KeyView
    expect(certsIn(await metadata()).map(fingerprint)).toEqual([second.fingerprintSha256, abandoned.fingerprintSha256, first.fingerprintSha256])
    expect((await call('DELETE', '/next')).status).toBe(204)
    expect((await call('DELETE', '/next')).status).toBe(404)
    expect(certsIn(await metadata()).map(fingerprint)).toEqual([second.fingerprintSha256, first.fingerprintSha256])
    expect((await call('POST', '/activate')).status).toBe(409)

    // one second before the grace period ends the previous key is still published; then it is dropped
    clock.advance(PREVIOUS_GRACE_MS - 1000)
    admin = (await h.login(w.byName('t_admin').userId, w.nodes.T1!.id)).access // the first one has expired
    expect((await keys()).map((k) => k.state)).toEqual(['current', 'previous'])
    clock.advance(1000)
    expect(certsIn(await metadata()).map(fingerprint)).toEqual([second.fingerprintSha256])
    expect((await keys()).map((k) => [k.state, k.fingerprintSha256])).toEqual([['current', second.fingerprintSha256]])
    expect((await call('DELETE', '/previous')).status).toBe(404)
    expect(await h.sql("SELECT 1 FROM saml_sp_keys WHERE provider_id = $1 AND state = 'previous'", [idpId])).toHaveLength(1)
    await maintenance(h.s)
    expect(await h.sql('SELECT state FROM saml_sp_keys WHERE provider_id = $1', [idpId])).toEqual([{ state: 'current' }])

    // a second activation within the grace period replaces the previous key (only one is kept)
    const third = (await call('POST', '')).json as KeyView
    await call('POST', '/activate')
    const fourth = (await call('POST', '')).json as KeyView
    const items = (await call('POST', '/activate')).json.items as KeyView[]
    expect(items.map((k) => [k.state, k.fingerprintSha256])).toEqual([
      ['current', fourth.fingerprintSha256],
      ['previous', third.fingerprintSha256],
    ])
  })

  it('keeps keys per provider, sealed and bound to it; deleting a provider deletes its keys', async () => {
    const other = await addProvider('other-saml')
    const mine = (await keys())[0]!.fingerprintSha256
    // replicas racing to create the first key keep one
    const [m1, m2] = await Promise.all([metadata(other), metadata(other)])
    expect(m1).toBe(m2)
    expect(certsIn(m1).map(fingerprint)).not.toContain(mine)
    // two rotations racing: one next key, the other 409
    const racing = await Promise.all([0, 1].map(() => h.request('POST', `/v1/idps/${other}/saml/signing-keys`, { token: admin })))
    expect(racing.map((r) => r.status).sort()).toEqual([201, 409])
    const [row] = await h.sql("SELECT private_enc FROM saml_sp_keys WHERE provider_id = $1 AND state = 'current'", [idpId])
    expect(row.private_enc).toMatch(/^v1\./)
    expect(h.s.sealer.open(row.private_enc, `cfp-control/saml-sp-key:${idpId}`)).toContain('PRIVATE KEY')
    expect(() => h.s.sealer.open(row.private_enc, `cfp-control/saml-sp-key:${other}`)).toThrow()
    expect((await h.request('DELETE', `/v1/idps/${other}`, { token: admin })).status).toBe(204)
    expect(await h.sql('SELECT 1 FROM saml_sp_keys WHERE provider_id = $1', [other])).toEqual([])
  })
})

describe('who may rotate', () => {
  it('a tenant auditor lists but cannot rotate; a viewer neither; another tenant’s admin and unknown ids are 404; OIDC has no keys', async () => {
    const token = admin
    const before = await keys()
    const auditor = (await h.login(w.byName('auditor_t').userId, w.nodes.T1!.id)).access
    const viewer = (await h.login(w.byName('t_viewer').userId, w.nodes.T1!.id)).access
    const [u] = await h.sql("INSERT INTO users (email, display_name) VALUES ('t2-admin@example.test', 't2 admin') RETURNING id")
    const T2 = w.nodes.T2!.id!
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [T2, u.id])
    await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id) VALUES ($1, 'tenant_admin', 'tenant', $2)", [u.id, T2])
    const foreignAdmin = (await h.login(u.id, T2)).access
    const oidc = await addProvider('oidc-no-keys', 'oidc')

    const ops = [
      ['GET', ''],
      ['POST', ''],
      ['POST', '/activate'],
      ['DELETE', '/previous'],
      ['DELETE', '/next'],
    ] as const
    const unknown = '00000000-0000-4000-8000-000000000000'
    for (const [method, path] of ops) {
      const at = (id: string, t: string) => h.request(method, `/v1/idps/${id}/saml/signing-keys${path}`, { token: t })
      const a = await at(idpId, auditor)
      expect(a.status, `${method} ${path}`).toBe(method === 'GET' ? 200 : 403)
      expect((await at(idpId, viewer)).status, `${method} ${path}`).toBe(403)
      const invisible = await at(idpId, foreignAdmin)
      const missing = await at(unknown, token)
      expect(invisible.status, `${method} ${path}`).toBe(404)
      expect(invisible.json).toEqual(missing.json)
      expect((await at(oidc, token)).status, `${method} ${path}`).toBe(404)
      expect((await h.request(method, `/v1/idps/${idpId}/saml/signing-keys${path}`)).status).toBe(401)
      bodies.push(a.body, invisible.body)
    }
    expect(await keys()).toEqual(before) // nothing changed
  })

  it('documents the routes in OpenAPI', async () => {
    const paths = (await h.request('GET', '/openapi.json')).json.paths
    expect(Object.keys(paths['/v1/idps/{idpId}/saml/signing-keys']).sort()).toEqual(['get', 'post'])
    expect(Object.keys(paths['/v1/idps/{idpId}/saml/signing-keys/activate'])).toEqual(['post'])
    expect(Object.keys(paths['/v1/idps/{idpId}/saml/signing-keys/previous'])).toEqual(['delete'])
    expect(Object.keys(paths['/v1/idps/{idpId}/saml/signing-keys/next'])).toEqual(['delete'])
    expect(paths['/v1/idps/{idpId}/saml/signing-keys'].post.responses).toHaveProperty('201')
  })

  it('never answers with a private key', async () => {
    const sealed = (await h.sql('SELECT private_enc FROM saml_sp_keys')).map((r) => (r.private_enc as string).split('.')[2]!.slice(0, 24))
    expect(bodies.length).toBeGreaterThan(20)
    for (const body of [...bodies, await metadata()]) {
      expect(body).not.toMatch(/PRIVATE KEY|private/i)
      for (const s of sealed) expect(body).not.toContain(s)
    }
  })
})

describe('migration 0008', () => {
  it("makes a provider's existing key its current one, still sealed with the same purpose", async () => {
    const db = openDb(DB_URL, `cfp_control_mig8_${randomBytes(4).toString('hex')}`, 2)
    try {
      await migrate(
        db,
        readMigrations().filter((m) => m.version < 8),
      )
      const [tenant] = (await db.query("INSERT INTO tenants (slug, name, region) VALUES ('m8', 'm8', 'eu') RETURNING id")).rows
      const [p] = (await db.query("INSERT INTO identity_providers (tenant_id, kind, name, config) VALUES ($1, 'saml', 'old', '{}') RETURNING id", [tenant.id]))
        .rows
      await db.query("INSERT INTO identity_providers (tenant_id, kind, name, config) VALUES ($1, 'saml', 'keyless', '{}')", [tenant.id])
      const sealer = new Sealer(randomBytes(32).toString('base64'))
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const sealed = sealer.seal(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), `cfp-control/saml-sp-key:${p.id}`)
      const cert = selfSignedCertificate({ privateKey, commonName: 'old', notBefore: new Date(), notAfter: new Date(Date.now() + 3600_000) }).toString('base64')
      await db.query('UPDATE identity_providers SET sp_key_enc = $2, sp_certificate = $3 WHERE id = $1', [p.id, sealed, cert])

      expect(await migrate(db)).toEqual(
        readMigrations()
          .filter((m) => m.version >= 8)
          .map((m) => m.version),
      )
      const { rows } = await db.query('SELECT * FROM saml_sp_keys')
      expect(rows).toEqual([expect.objectContaining({ provider_id: p.id, state: 'current', private_enc: sealed, certificate: cert, published_until: null })])
      expect(rows[0].activated_at).toBeInstanceOf(Date)
      expect(sealer.open(rows[0].private_enc, `cfp-control/saml-sp-key:${p.id}`)).toContain('PRIVATE KEY')
      const cols = await db.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'identity_providers' AND column_name LIKE 'sp\\_%'",
        [db.schema],
      )
      expect(cols.rows).toEqual([])
    } finally {
      await db.query(`DROP SCHEMA IF EXISTS ${db.schema} CASCADE`)
      await db.close()
    }
  })
})
