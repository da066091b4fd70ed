/** The sequencer: gap-free, duplicate-free chains under concurrent writers, atomicity with the change, proofs, checkpoints. */
import {
  consistencyProof as refConsistency,
  inclusionProof as refInclusion,
  leafHash,
  merkleRoot,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from 'cfp-audit-verify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../test-support/harness.js'
import { drain, entries, verifyStored } from '../test-support/audit.js'
import { audit } from './record.js'
import { consistencyProof, inclusionProof, rootAt } from './tree.js'

let h: Harness
beforeAll(async () => {
  h = await createHarness()
})
afterAll(async () => h?.close())

const TENANT = '11111111-2222-4333-8444-555555555555'

describe('sequencer', () => {
  it('gives 8 concurrent writers into one chain gap-free, duplicate-free sequence numbers and a chain that verifies', async () => {
    const writers = 8
    const each = 40
    // the leader runs while the writers write, so sequencing and writing interleave
    h.s.sequencer.start()
    await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        (async () => {
          for (let i = 0; i < each; i++) {
            await h.s.db.tx((c) => audit(h.s, c, undefined, { kind: 'test.write', scope: { tenant: TENANT }, details: { w, i } }))
          }
        })(),
      ),
    )
    await h.s.sequencer.stop()
    await drain(h, true)
    const chain = `control:${TENANT}`
    const got = await entries(h, 'chain = $1', [chain])
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: writers * each }, (_, i) => i))
    const seen = new Set(got.map((e) => `${e.details.w}:${e.details.i}`))
    expect(seen.size).toBe(writers * each)
    expect((await h.sql('SELECT count(*)::int AS n FROM audit_queue'))[0].n).toBe(0)
    const result = await verifyStored(h, chain)
    expect(result).toMatchObject({ ok: true, size: writers * each })
    expect(result.ok && result.checkpoints).toBeGreaterThan(0)
  })

  it('sequences on its own as leader (timer or NOTIFY), with a second sequencer standing by', async () => {
    const { Sequencer } = await import('./sequencer.js')
    const standby = new Sequencer(h.s.db, h.s.options.databaseUrl, h.s.auditKeys, h.s.clock, { pollMs: 60_000 })
    h.s.sequencer.start()
    // give the first one the lock, then start the second (which must wait)
    await new Promise((r) => setTimeout(r, 300))
    standby.start()
    try {
      const started = Date.now()
      await h.s.db.tx((c) => audit(h.s, c, undefined, { kind: 'test.leader', details: {} }))
      for (;;) {
        const n = (await h.sql("SELECT count(*)::int AS n FROM audit_entries WHERE kind = 'test.leader'"))[0].n
        if (n === 1) break
        expect(Date.now() - started).toBeLessThan(5000)
        await new Promise((r) => setTimeout(r, 20))
      }
      const holders = await h.sql(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext('cfp_audit_sequencer:' || $1)::oid AND granted",
        [h.s.db.schema],
      )
      expect(holders[0].n).toBe(1)
    } finally {
      await standby.stop()
      await h.s.sequencer.stop()
    }
  })

  it('leaves no entry for a change that rolls back', async () => {
    const before = (await h.sql('SELECT count(*)::int AS n FROM audit_entries'))[0].n
    await expect(
      h.s.db.tx(async (c) => {
        await audit(h.s, c, undefined, { kind: 'test.rolled_back', scope: { tenant: TENANT } })
        throw new Error('the change fails')
      }),
    ).rejects.toThrow('the change fails')
    await drain(h)
    expect((await h.sql('SELECT count(*)::int AS n FROM audit_entries'))[0].n).toBe(before)
    expect(await entries(h, "kind = 'test.rolled_back'")).toEqual([])
  })

  it('serves inclusion and consistency proofs from stored nodes that match the reference tree at every size', async () => {
    const chain = 'control:system'
    for (let i = 0; i < 37; i++) await audit(h.s, h.s.db, undefined, { kind: 'test.proof', details: { i } })
    await drain(h)
    const rows = await h.sql('SELECT leaf, leaf_hash FROM audit_entries WHERE chain = $1 ORDER BY seq', [chain])
    const hashes = rows.map((r) => r.leaf_hash as Buffer)
    rows.forEach((r, i) => expect(leafHash(r.leaf).equals(hashes[i]!)).toBe(true))
    for (let n = 1; n <= hashes.length; n++) {
      const root = merkleRoot(hashes.slice(0, n))
      expect((await rootAt(h.s.db, chain, n)).equals(root)).toBe(true)
      for (let m = 0; m < n; m++) {
        const path = await inclusionProof(h.s.db, chain, m, n)
        expect(path).toEqual(refInclusion(hashes, m, n).map((b) => b.toString('hex')))
        expect(
          verifyInclusion(
            hashes[m]!,
            m,
            n,
            path.map((x) => Buffer.from(x, 'hex')),
            root,
          ),
        ).toBe(true)
      }
      for (let m = 1; m <= n; m++) {
        const path = await consistencyProof(h.s.db, chain, m, n)
        expect(path).toEqual(refConsistency(hashes, m, n).map((b) => b.toString('hex')))
        expect(
          verifyConsistency(
            m,
            n,
            merkleRoot(hashes.slice(0, m)),
            root,
            path.map((x) => Buffer.from(x, 'hex')),
          ),
        ).toBe(true)
      }
    }
  })

  it('signs checkpoints every N entries with the audit key, each verifying and consistent with the last', async () => {
    const chain = 'control:system'
    await drain(h, true)
    for (let i = 0; i < 5; i++) await audit(h.s, h.s.db, undefined, { kind: 'test.checkpoint', details: { i } })
    await drain(h, true)
    const cps = await h.sql('SELECT size, root, note, key_name FROM audit_checkpoints WHERE chain = $1 ORDER BY size', [chain])
    expect(cps.length).toBeGreaterThanOrEqual(2)
    const keys = await h.s.auditKeys.list()
    const pub = keys.map((k) => ({ name: k.name, publicKey: k.publicKey }))
    for (const cp of cps) {
      const parsed = verifyCheckpoint(cp.note, pub)
      expect(parsed).toMatchObject({ origin: `cfp-audit/${chain}`, size: Number(cp.size) })
      expect(parsed!.root.equals(cp.root)).toBe(true)
    }
    // the audit key is not the token-signing key
    const signing = await h.sql('SELECT public_jwk FROM signing_keys')
    expect(signing.every((s) => s.public_jwk.crv !== 'Ed25519')).toBe(true)
  })
})
