/**
 * Watching over the audit chain (docs/audit.md "Anchors", docs/control-plane.md Audit): every
 * `--audit-anchor-interval` the latest checkpoint of every chain is bound into an anchor, timestamped by the RFC 3161
 * authority at `--audit-tsa-url` and written to the write-once `--audit-anchor-dir`; every
 * `--audit-verify-interval` the control plane verifies all its chains with the standalone verifier's code. Both are
 * recorded (tables `audit_anchors`, `audit_verifications`, and entries `audit.anchor` / `audit.verify` in the system
 * chain); a failed verification is logged as an error and recorded with the chain, seq and finding.
 *
 * Any replica may run the timers: a transaction-level advisory lock lets one do each round, the others skip it.
 */
import type { X509Certificate } from 'node:crypto'
import {
  type AnchorStore,
  anchorName,
  checkTimestamp,
  createAnchor,
  directoryAnchorStore,
  type QueryFn,
  requestTimestamp,
  verifyTables,
} from 'cfp-audit-verify'
import type { Clock } from '../clock.js'
import type { Db } from '../db/pool.js'
import { audit } from './record.js'

export interface WatchOptions {
  tsaUrl?: string
  tsaCerts: X509Certificate[]
  anchorDir?: string
  /** seconds between anchors; 0 = never */
  anchorInterval: number
  /** seconds between self-verifications; 0 = never */
  verifyInterval: number
}

export interface AnchorRecord {
  createdAt: string
  digest: string
  location: string
  checkpoints: number
  tsa: string
  genTime: string
}

export interface VerificationRecord {
  createdAt: string
  ok: boolean
  chains: number
  entries: number
  chain: string | null
  seq: number | null
  finding: string | null
  detail: string | null
  durationMs: number
}

/** RFC 3161's GeneralizedTime (`20261207180115Z`, optional fraction) → RFC 3339; other text passes through. */
export function generalizedTime(t: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(t)
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}Z` : t
}

export class AuditWatch {
  private timers: NodeJS.Timeout[] = []
  private running = new Set<Promise<unknown>>()
  private readonly store: AnchorStore | undefined
  /** where failures are reported (server.ts: the application log) */
  log: (level: 'error' | 'warn' | 'info', msg: string, err?: unknown) => void = () => undefined

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly opts: WatchOptions,
  ) {
    this.store = opts.anchorDir ? directoryAnchorStore(opts.anchorDir) : undefined
  }

  get anchoring(): boolean {
    return this.store !== undefined && this.opts.tsaUrl !== undefined && this.opts.anchorInterval > 0
  }

  start(): void {
    const every = (seconds: number, fn: () => Promise<unknown>, what: string) => {
      if (seconds <= 0) return
      const t = setInterval(() => {
        const p = fn()
          .catch((e) => this.log('error', `audit ${what} failed`, e))
          .finally(() => this.running.delete(p))
        this.running.add(p)
      }, seconds * 1000)
      t.unref()
      this.timers.push(t)
    }
    if (this.anchoring) every(this.opts.anchorInterval, () => this.anchorNow(), 'anchoring')
    every(this.opts.verifyInterval, () => this.verifyNow(), 'verification')
  }

  /** Stops the timers and waits for a round in progress. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    await Promise.allSettled([...this.running])
  }

  /**
   * Anchors the latest checkpoint of every chain now. Returns the record, or null when there is nothing to anchor,
   * another replica holds the round, or the chains have not moved since the last anchor.
   */
  async anchorNow(): Promise<AnchorRecord | null> {
    if (!this.store || !this.opts.tsaUrl) throw new Error('anchoring needs --audit-tsa-url and --audit-anchor-dir')
    const store = this.store
    const tsaUrl = this.opts.tsaUrl
    return this.db.tx(async (c) => {
      const { rows: lock } = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock(hashtext('cfp_audit_anchor:' || current_schema())) AS ok")
      if (!lock[0]?.ok) return null
      const { rows } = await c.query<{ note: string }>('SELECT DISTINCT ON (chain) note FROM audit_checkpoints ORDER BY chain, size DESC')
      if (rows.length === 0) return null
      const notes = rows.map((r) => r.note)
      // nothing new since the last anchor: the same checkpoints would be anchored again
      const { rows: last } = await c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_checkpoints cp
          WHERE cp.created_at > coalesce((SELECT max(created_at) FROM audit_anchors), '-infinity')`,
      )
      if ((last[0]?.n ?? 0) === 0) return null
      const anchor = await createAnchor('control', notes, (d) => requestTimestamp(d, { url: tsaUrl, trusted: this.opts.tsaCerts }), new Date(this.clock.now()))
      const checked = checkTimestamp(Buffer.from(anchor.tsr, 'base64'), Buffer.from(anchor.digest, 'hex'), this.opts.tsaCerts)
      const t = { tsa: checked.tsa, genTime: checked.genTime ? generalizedTime(checked.genTime) : undefined }
      const location = await store.put(anchorName(anchor), `${JSON.stringify(anchor, null, 2)}\n`)
      const { rows: rec } = await c.query<{ created_at: Date }>(
        'INSERT INTO audit_anchors (digest, location, checkpoints, tsa, gen_time) VALUES ($1, $2, $3, $4, $5) RETURNING created_at',
        [Buffer.from(anchor.digest, 'hex'), location, notes.length, t.tsa ?? tsaUrl, t.genTime ?? anchor.time],
      )
      await audit({ clock: this.clock }, c, undefined, {
        kind: 'audit.anchor',
        system: true,
        actor: { type: 'system', id: null, name: 'audit anchoring', auth: 'system' },
        target: { type: 'system', id: null },
        details: { digest: anchor.digest, checkpoints: notes.length, location, tsa: t.tsa ?? tsaUrl },
      })
      return {
        createdAt: rec[0]!.created_at.toISOString(),
        digest: anchor.digest,
        location,
        checkpoints: notes.length,
        tsa: t.tsa ?? tsaUrl,
        genTime: t.genTime ?? anchor.time,
      }
    })
  }

  /** Verifies every chain now and records the result (also in the system chain). */
  async verifyNow(): Promise<VerificationRecord> {
    const started = this.clock.now()
    const query: QueryFn = (sql, params) => this.db.query(sql, params as unknown[]) as ReturnType<QueryFn>
    const result = await verifyTables(query)
    const bad = result.chains.find((c) => !c.ok)
    const rec: VerificationRecord = {
      createdAt: new Date(this.clock.now()).toISOString(),
      ok: result.ok,
      chains: result.chains.length,
      entries: result.entries,
      chain: bad && !bad.ok ? bad.chain : null,
      seq: bad && !bad.ok ? bad.seq : null,
      finding: bad && !bad.ok ? bad.finding : null,
      detail: bad && !bad.ok ? bad.detail.slice(0, 1000) : null,
      durationMs: Math.max(0, Math.round(this.clock.now() - started)),
    }
    await this.db.tx(async (c) => {
      await c.query('INSERT INTO audit_verifications (ok, chains, entries, chain, seq, finding, detail, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
        rec.ok,
        rec.chains,
        rec.entries,
        rec.chain,
        rec.seq,
        rec.finding,
        rec.detail,
        rec.durationMs,
      ])
      await audit({ clock: this.clock }, c, undefined, {
        kind: 'audit.verify',
        system: true,
        actor: { type: 'system', id: null, name: 'audit verification', auth: 'system' },
        target: { type: 'system', id: null },
        outcome: rec.ok ? { status: 'ok', code: null } : { status: 'error', code: rec.finding },
        details: { chains: rec.chains, entries: rec.entries, finding: rec.finding, chain: rec.chain, seq: rec.seq },
      })
    })
    if (!rec.ok) this.log('error', `audit chain ${rec.chain} failed verification at seq ${rec.seq}: ${rec.finding} (${rec.detail})`)
    return rec
  }

  /** The last anchor and the last verification, for the Audit page. */
  async status(): Promise<{ anchoring: boolean; lastAnchor: AnchorRecord | null; lastVerification: VerificationRecord | null }> {
    const [a, v] = await Promise.all([
      this.db.query<{ created_at: Date; digest: Buffer; location: string; checkpoints: number; tsa: string; gen_time: Date }>(
        'SELECT * FROM audit_anchors ORDER BY id DESC LIMIT 1',
      ),
      this.db.query<{
        created_at: Date
        ok: boolean
        chains: number
        entries: string
        chain: string | null
        seq: string | null
        finding: string | null
        detail: string | null
        duration_ms: number
      }>('SELECT * FROM audit_verifications ORDER BY id DESC LIMIT 1'),
    ])
    const ar = a.rows[0]
    const vr = v.rows[0]
    return {
      anchoring: this.anchoring,
      lastAnchor: ar
        ? {
            createdAt: ar.created_at.toISOString(),
            digest: ar.digest.toString('hex'),
            location: ar.location,
            checkpoints: ar.checkpoints,
            tsa: ar.tsa,
            genTime: ar.gen_time.toISOString(),
          }
        : null,
      lastVerification: vr
        ? {
            createdAt: vr.created_at.toISOString(),
            ok: vr.ok,
            chains: vr.chains,
            entries: Number(vr.entries),
            chain: vr.chain,
            seq: vr.seq === null ? null : Number(vr.seq),
            finding: vr.finding,
            detail: vr.detail,
            durationMs: vr.duration_ms,
          }
        : null,
    }
  }
}
