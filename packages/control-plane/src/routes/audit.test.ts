/**
 * The audit HTTP API: search with filters and cursor pages, one entry with an inclusion proof that verifies against
 * the signed checkpoint, checkpoints, consistency proofs, public keys; `audit.read` decides who reads which chain;
 * malformed parameters get 400 naming the parameter.
 */
import { verifyCheckpoint, verifyConsistency, verifyInclusion } from 'cfp-audit-verify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../test-support/harness.js'
import { drain } from '../test-support/audit.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
const id = (node: string) => w.nodes[node]!.id!
const get = (who: string, url: string) => h.request('GET', url, { token: w.byName(who).token })
const hex = (xs: string[]) => xs.map((x) => Buffer.from(x, 'hex'))

beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
  const ta = w.byName('t_admin').token
  for (let i = 0; i < 7; i++) await h.request('PATCH', `/v1/projects/${id('A1')}`, { token: ta, body: { name: `A1 v${i}` } })
  await h.request('PATCH', `/v1/projects/${id('B1')}`, { token: ta, body: { name: 'B1 v1' } })
  await h.request('PATCH', `/v1/tenants/${id('T2')}`, { token: w.byName('sys').token, body: { name: 'T2 v1' } })
  await drain(h, true)
  await h.request('PATCH', `/v1/projects/${id('A1')}`, { token: ta, body: { name: 'A1 last' } })
  await drain(h, true)
})
afterAll(async () => h?.close())

describe('GET /v1/audit/entries', () => {
  it('searches a tenant’s chain newest first, with filters, and pages with a cursor', async () => {
    const t1 = `/v1/audit/entries?tenant=${id('T1')}`
    const all = await get('auditor_t', t1)
    expect(all.status).toBe(200)
    expect(all.json.items.length).toBe(9)
    expect(all.json.items.every((e: { chain: string }) => e.chain === `control:${id('T1')}`)).toBe(true)
    const times = all.json.items.map((e: { entry: { time: string } }) => e.entry.time)
    expect([...times].sort().reverse()).toEqual(times)

    const a1 = await get('auditor_t', `/v1/audit/entries?project=${id('A1')}&kind=project.update`)
    expect(a1.json.items.length).toBe(8)
    expect(a1.json.items[0].entry.details.name).toBe('A1 last')

    const byActor = await get('auditor_t', `${t1}&actor=${w.byName('t_admin').userId}&outcome=ok&kind=project.*`)
    expect(byActor.json.items.length).toBe(9)

    const pages: string[] = []
    let cursor: string | null = null
    do {
      const res = await get('auditor_t', `${t1}&limit=4${cursor ? `&cursor=${cursor}` : ''}`)
      expect(res.status).toBe(200)
      for (const e of res.json.items) pages.push(`${e.chain}/${e.seq}`)
      cursor = res.json.next
    } while (cursor)
    expect(pages).toEqual(all.json.items.map((e: { chain: string; seq: number }) => `${e.chain}/${e.seq}`))

    const first = all.json.items.at(-1).entry.time
    const since = await get('auditor_t', `${t1}&from=${first}&to=${new Date(Date.now() + 60_000).toISOString()}`)
    expect(since.json.items.length).toBe(9)
    const none = await get('auditor_t', `${t1}&to=2000-01-01T00:00:00Z`)
    expect(none.json.items).toEqual([])
  })

  it('reads every chain only with audit.read on the system', async () => {
    expect((await get('auditor_sys', '/v1/audit/entries')).json.items.length).toBeGreaterThanOrEqual(10)
    expect((await get('auditor_sys', '/v1/audit/entries?chain=control:system')).status).toBe(200)
    expect((await get('auditor_t', '/v1/audit/entries')).status).toBe(403)
    expect((await get('t_admin', '/v1/audit/entries?chain=control:system')).status).toBe(403)
    expect((await get('auditor_t', `/v1/audit/entries?tenant=${id('T2')}`)).status).toBe(404)
    expect((await get('p_editor', `/v1/audit/entries?project=${id('A1')}`)).status).toBe(403)
    const own = await get('p_admin', `/v1/audit/entries?project=${id('A1')}`)
    expect(own.status).toBe(200)
    expect(own.json.items.every((e: { entry: { scope: { project: string } } }) => e.entry.scope.project === id('A1'))).toBe(true)
    expect((await get('p_admin', `/v1/audit/entries?tenant=${id('T1')}`)).status).toBe(403)
  })

  it('answers malformed parameters with 400 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['from=yesterday', 'from'],
      ['to=2026-13-45T00:00:00Z', 'to'],
      ['from=2026-12-07T10:00:00Z&to=2026-12-06T10:00:00Z', 'to'],
      ['tenant=nope', 'tenant'],
      ['project=1', 'project'],
      ['outcome=maybe', 'outcome'],
      ['kind=DROP TABLE', 'kind'],
      ['limit=0', 'limit'],
      ['limit=100000', 'limit'],
      ['cursor=abc', 'cursor'],
      ['chain=runtime:x', 'chain'],
      ['sid=x', 'sid'],
      ['colour=blue', 'colour'],
      [`chain=control:system&tenant=${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`, 'chain'],
    ]
    for (const [q, param] of cases) {
      const res = await get('auditor_sys', `/v1/audit/entries?${q}`)
      expect(res.status, q).toBe(400)
      expect(res.json.error.code, q).toBe('invalid_request')
      expect(res.json.error.message.startsWith(`${param}:`) || res.json.error.message.includes(`/${param}`), `${q}: ${res.json.error.message}`).toBe(true)
    }
  })
})

describe('proofs, checkpoints and keys', () => {
  it('returns an entry with an inclusion proof that verifies against its signed checkpoint', async () => {
    const chain = `control:${id('T1')}`
    const keys = (await h.request('GET', '/v1/audit/keys')).json.items
    expect(keys[0].verifierKey).toMatch(/^cfp-audit-control-1\+[0-9a-f]{8}\+/)
    const pub = keys.map((k: { name: string; publicKey: string }) => ({ name: k.name, publicKey: Buffer.from(k.publicKey, 'base64') }))
    for (let seq = 0; seq < 9; seq++) {
      const res = await get('auditor_t', `/v1/audit/entries/${chain}/${seq}`)
      expect(res.status).toBe(200)
      const cp = verifyCheckpoint(res.json.checkpoint.note, pub)
      expect(cp).not.toBeNull()
      expect(cp!.size).toBe(res.json.proof.tree_size)
      expect(verifyInclusion(Buffer.from(res.json.leafHash, 'hex'), seq, res.json.proof.tree_size, hex(res.json.proof.path), cp!.root)).toBe(true)
      // a forged path does not verify
      const forged = hex(res.json.proof.path)
      if (forged.length > 0) forged[0]![0]! ^= 1
      expect(forged.length === 0 || !verifyInclusion(Buffer.from(res.json.leafHash, 'hex'), seq, res.json.proof.tree_size, forged, cp!.root)).toBe(true)
    }
    const at = await get('auditor_t', `/v1/audit/entries/${chain}/2?tree_size=5`)
    expect(at.json.proof.tree_size).toBe(5)
    expect(verifyInclusion(Buffer.from(at.json.leafHash, 'hex'), 2, 5, hex(at.json.proof.path), Buffer.from(at.json.root, 'hex'))).toBe(true)
    expect((await get('auditor_t', `/v1/audit/entries/${chain}/2?tree_size=2`)).json.error.message).toMatch(/^tree_size:/)
    expect((await get('auditor_t', `/v1/audit/entries/${chain}/999`)).status).toBe(404)
    expect((await get('auditor_t', `/v1/audit/entries/${chain}/-1`)).status).toBe(400)
    expect((await get('auditor_t', '/v1/audit/entries/bogus/1')).json.error.message).toMatch(/^chain:/)
    // another tenant's auditor does not learn of it; a project admin reads its project's entries only
    expect((await get('p_admin', `/v1/audit/entries/${chain}/8`)).status).toBe(200)
    expect((await get('team_viewer', `/v1/audit/entries/${chain}/8`)).status).toBe(403)
    const sys = await get('auditor_sys', '/v1/audit/entries?chain=control:system')
    expect(sys.status).toBe(200)
  })

  it('lists signed checkpoints and proves each an extension of the one before', async () => {
    const chain = `control:${id('T1')}`
    const cps = await get('auditor_t', `/v1/audit/checkpoints?chain=${chain}`)
    expect(cps.status).toBe(200)
    expect(cps.json.items.map((c: { size: number }) => c.size)).toEqual([9, 8])
    const [second, first] = cps.json.items
    const proof = await get('auditor_t', `/v1/audit/consistency?chain=${chain}&first=${first.size}&second=${second.size}`)
    expect(proof.status).toBe(200)
    expect(proof.json.firstRoot).toBe(first.root)
    expect(proof.json.secondRoot).toBe(second.root)
    expect(verifyConsistency(first.size, second.size, Buffer.from(first.root, 'hex'), Buffer.from(second.root, 'hex'), hex(proof.json.path))).toBe(true)
    for (const [q, param] of [
      [`chain=${chain}&first=5`, 'second'],
      [`chain=${chain}&first=6&second=5`, 'first'],
      [`chain=${chain}&first=1&second=500`, 'second'],
      [`chain=${chain}&first=x&second=5`, 'first'],
      ['first=1&second=2', 'chain'],
    ]) {
      const res = await get('auditor_t', `/v1/audit/consistency?${q}`)
      expect(res.status, q).toBe(400)
      expect(res.json.error.message.startsWith(`${param}:`), res.json.error.message).toBe(true)
    }
    expect((await get('auditor_t', `/v1/audit/checkpoints?chain=control:${id('T2')}`)).status).toBe(404)
    expect((await get('auditor_t', '/v1/audit/checkpoints?chain=control:system')).status).toBe(403)
  })

  it('rotates the audit key (system admins only): new checkpoints use it, old ones still verify with the retired key', async () => {
    expect((await h.request('POST', '/v1/audit/keys/rotate', { token: w.byName('t_admin').token })).status).toBe(403)
    const rotated = await h.request('POST', '/v1/audit/keys/rotate', { token: w.byName('sys').token })
    expect(rotated.status).toBe(200)
    expect(rotated.json).toMatchObject({ name: 'cfp-audit-control-2', retired: ['cfp-audit-control-1'] })
    await h.request('PATCH', `/v1/projects/${id('A1')}`, { token: w.byName('t_admin').token, body: { name: 'after rotation' } })
    await drain(h, true)
    const keys = (await h.request('GET', '/v1/audit/keys')).json.items
    expect(keys.map((k: { name: string; retiredAt: string | null }) => [k.name, k.retiredAt === null])).toEqual([
      ['cfp-audit-control-1', false],
      ['cfp-audit-control-2', true],
    ])
    const cps = (await get('auditor_t', `/v1/audit/checkpoints?chain=control:${id('T1')}`)).json.items
    expect(cps[0].keyName).toBe('cfp-audit-control-2')
    expect(cps.at(-1).keyName).toBe('cfp-audit-control-1')
    const pub = keys.map((k: { name: string; publicKey: string }) => ({ name: k.name, publicKey: Buffer.from(k.publicKey, 'base64') }))
    for (const cp of cps) expect(verifyCheckpoint(cp.note, pub), cp.keyName).not.toBeNull()
    const { verifyStored } = await import('../test-support/audit.js')
    expect(await verifyStored(h, `control:${id('T1')}`)).toMatchObject({ ok: true })
    const entry = (await h.sql("SELECT leaf FROM audit_entries WHERE kind = 'audit_key.rotate'"))[0]
    expect(JSON.parse(entry.leaf)).toMatchObject({ chain: 'control:system', details: { name: 'cfp-audit-control-2', retired: 'cfp-audit-control-1' } })
  })

  it('records the refused audit reads themselves', async () => {
    await drain(h)
    const denied = await h.sql("SELECT leaf FROM audit_entries WHERE kind = 'authz.denied'")
    expect(denied.some((r) => JSON.parse(r.leaf).details.route === '/v1/audit/entries')).toBe(true)
  })
})
