/**
 * Anchoring through a real RFC 3161 authority (OpenSSL behind a loopback HTTP server) into a write-once directory,
 * and the control plane's own verification of its chains: recorded, shown by /v1/audit/status, failing with the
 * chain, seq and finding after a superuser's edit behind the triggers.
 */
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkAnchor } from 'cfp-audit-verify'
import { localTsa, serveTsa, type TsaServer } from 'cfp-audit-verify/testing'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { drain, ofKind } from '../test-support/audit.js'
import { createHarness, DB_URL, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'
import { AuditWatch } from './watch.js'

const tsa = localTsa()
let server: TsaServer
let h: Harness
let w: World
let watch: AuditWatch
const dir = mkdtempSync(join(tmpdir(), 'cfp-cp-anchors-'))
const trusted = [new X509Certificate(tsa.caPem)]
const get = (who: string, url: string) => h.request('GET', url, { token: w.byName(who).token })

beforeAll(async () => {
  server = await serveTsa(tsa)
  h = await createHarness()
  w = await seedWorld(h)
  // changes through the API: entries in the system chain and in two tenants' chains
  const sys = w.byName('sys').token
  await h.request('PATCH', `/v1/tenants/${w.nodes.T2!.id}`, { token: sys, body: { name: 'T2 v1' } })
  for (let i = 0; i < 3; i++) await h.request('PATCH', `/v1/projects/${w.nodes.A1!.id}`, { token: w.byName('t_admin').token, body: { name: `A1 v${i}` } })
  await h.request('GET', `/v1/tenants/${w.nodes.T2!.id}/members`, { token: w.byName('p_viewer').token })
  await drain(h, true)
  watch = new AuditWatch(h.s.db, h.s.clock, { tsaUrl: server.url, tsaCerts: trusted, anchorDir: dir, anchorInterval: 3600, verifyInterval: 3600 })
  // the harness's own watcher answers /v1/audit/status from the same tables
})
afterAll(async () => {
  await watch?.stop()
  await h?.close()
  await server?.close()
})

describe('audit anchoring', () => {
  it('anchors the latest checkpoint of every chain, write-once, timestamped, and records it', async () => {
    const rec = await watch.anchorNow()
    expect(rec).not.toBeNull()
    const files = readdirSync(join(dir, 'anchors', 'control'))
    expect(files).toHaveLength(1)
    const anchor = JSON.parse(readFileSync(join(dir, 'anchors', 'control', files[0]!), 'utf8'))
    const { rows: keys } = await h.s.db.query<{ name: string; public_key: Buffer }>('SELECT name, public_key FROM audit_keys')
    expect(
      checkAnchor(
        anchor,
        keys.map((k) => ({ name: k.name, publicKey: k.public_key })),
        trusted,
      ),
    ).toMatchObject({ ok: true })
    const { rows: chains } = await h.s.db.query<{ n: number }>('SELECT count(DISTINCT chain)::int AS n FROM audit_checkpoints')
    expect(anchor.checkpoints).toHaveLength(chains[0]!.n)
    expect(rec!.checkpoints).toBe(chains[0]!.n)

    // nothing new since: no second anchor
    expect(await watch.anchorNow()).toBeNull()
    await drain(h, true)
    const [entry] = await ofKind(h, 'audit.anchor')
    expect(entry).toMatchObject({ chain: 'control:system', actor: { type: 'system' }, details: { digest: rec!.digest, checkpoints: rec!.checkpoints } })
  })

  it('refuses to anchor when the authority is down, writing nothing', async () => {
    await h.request('PATCH', `/v1/tenants/${w.nodes.T2!.id}`, { token: w.byName('sys').token, body: { name: 'T2 renamed' } })
    await drain(h, true)
    server.mode = 'error'
    try {
      await expect(watch.anchorNow()).rejects.toThrow(/answered 503/)
    } finally {
      server.mode = 'ok'
    }
    expect(readdirSync(join(dir, 'anchors', 'control'))).toHaveLength(1)
    expect(await watch.anchorNow()).not.toBeNull()
    expect(readdirSync(join(dir, 'anchors', 'control'))).toHaveLength(2)
  })
})

describe('self-verification', () => {
  it('verifies every chain, records the run, and /v1/audit/status shows it to system auditors only', async () => {
    const rec = await watch.verifyNow()
    expect(rec).toMatchObject({ ok: true, finding: null })
    expect(rec.chains).toBeGreaterThan(1)
    const status = await get('auditor_sys', '/v1/audit/status')
    expect(status.status).toBe(200)
    expect(status.json).toMatchObject({ lastVerification: { ok: true, chains: rec.chains }, lastAnchor: { checkpoints: expect.any(Number) } })
    expect((await get('auditor_t', '/v1/audit/status')).status).toBe(403)
    expect((await get('p_viewer', '/v1/audit/status')).status).toBe(403)
    expect((await h.request('GET', '/v1/audit/status')).status).toBe(401)
  })

  it('names the chain, seq and finding of an entry a superuser edited behind the triggers', async () => {
    const admin = new pg.Client({ connectionString: DB_URL, options: `-c search_path=${h.s.db.schema}` })
    await admin.connect()
    try {
      const { rows } = await admin.query<{ chain: string; seq: string }>(
        "SELECT chain, seq FROM audit_entries WHERE chain <> 'control:system' ORDER BY chain, seq LIMIT 1 OFFSET 1",
      )
      const { chain, seq } = rows[0]!
      await admin.query('ALTER TABLE audit_entries DISABLE TRIGGER USER')
      await admin.query(`UPDATE audit_entries SET leaf = replace(leaf, '"v":1', '"v":1 ') WHERE chain = $1 AND seq = $2`, [chain, seq])
      await admin.query('ALTER TABLE audit_entries ENABLE TRIGGER USER')
      const res = await h.request('POST', '/v1/audit/verify', { token: w.byName('sys').token })
      expect(res.status).toBe(200)
      expect(res.json).toMatchObject({ ok: false, chain, seq: Number(seq), finding: 'edited' })
      await drain(h, true)
      const verified = await ofKind(h, 'audit.verify')
      expect(verified.at(-1)).toMatchObject({ outcome: { status: 'error', code: 'edited' }, details: { chain, seq: Number(seq) } })
    } finally {
      await admin.end()
    }
  })
})
