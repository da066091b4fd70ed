/**
 * Retention and legal hold of the audit chain (docs/audit.md "Retention and legal hold", migration 0014).
 *
 * Each tenant may set how many days its entries are kept (`audit_retention`; otherwise `--audit-retention-days`,
 * 0 = forever); `audit_holds` are legal holds, and while one is in force nothing of its tenant is pruned. Every
 * `--audit-prune-interval` one replica (advisory lock) prunes each chain up to the largest signed checkpoint whose
 * last entry is older than the retention: it first verifies the chain with the standalone verifier's code, then
 * calls the database's `audit_prune` (SECURITY DEFINER, owned by `cfp_audit_pruner`, not callable by the application
 * role) over the `--audit-prune-database-url` connection, and records an `audit.pruned` entry in the pruned chain in
 * the same transaction. Setting a retention, placing and releasing a hold are audited the same way
 * (`audit.retention.set`, `audit.hold.placed`, `audit.hold.released`).
 */
import { type QueryFn, tableKeys, verifyTableChain } from 'cfp-audit-verify'
import type { FastifyRequest } from 'fastify'
import type { Clock } from '../clock.js'
import type { Db } from '../db/pool.js'
import { invalid } from '../errors.js'
import { type Actor, audit } from './record.js'

export interface RetentionOptions {
  /** days kept when the tenant sets none; 0 = forever */
  defaultDays: number
  /** the platform's floor: no tenant's retention is set below it, and a lower one stored earlier counts as it */
  minDays: number
  /** seconds between pruning rounds; 0 = never */
  interval: number
}

export interface PruneResult {
  chain: string
  /** entries [from, size) were pruned */
  from: number
  size: number
  entries: number
}

export interface Hold {
  id: number
  tenant: string
  reason: string
  placedBy: string | null
  placedAt: string
  releasedBy: string | null
  releasedAt: string | null
}

/** Why a pruning was refused: `hold`, `not_checkpointed` (no checkpoint of that size), `unverified`, `already`. */
export class PruneRefused extends Error {
  constructor(
    readonly code: 'hold' | 'not_checkpointed' | 'unverified' | 'already',
    message: string,
  ) {
    super(message)
  }
}

const SYSTEM_ACTOR: Actor = { type: 'system', id: null, name: 'audit retention', auth: 'system' }

/** The tenant whose retention and holds govern a chain (`control:<tenant>`; `system` for the system chain). */
export const tenantOfChain = (chain: string): string => chain.slice(chain.indexOf(':') + 1)
const scopeOf = (tenant: string) => (tenant === 'system' ? {} : { tenant })

const holdOf = (r: Record<string, unknown>): Hold => ({
  id: Number(r.id),
  tenant: String(r.tenant),
  reason: String(r.reason),
  placedBy: (r.placed_by as string | null) ?? null,
  placedAt: (r.placed_at as Date).toISOString(),
  releasedBy: (r.released_by as string | null) ?? null,
  releasedAt: r.released_at ? (r.released_at as Date).toISOString() : null,
})

export class AuditRetention {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<unknown> | undefined
  log: (msg: string, err?: unknown) => void = () => undefined

  /** `pruner`: the connection pruning runs on (a role granted cfp_audit_pruner); `db` for everything else. */
  constructor(
    private readonly db: Db,
    private readonly pruner: Db,
    private readonly clock: Clock,
    private readonly opts: RetentionOptions,
  ) {}

  start(): void {
    if (this.opts.interval <= 0) return
    this.timer = setInterval(() => {
      if (this.running) return
      this.running = this.pruneDue()
        .catch((e) => this.log('audit pruning failed', e))
        .finally(() => {
          this.running = undefined
        })
    }, this.opts.interval * 1000)
    this.timer.unref()
  }

  /** Stops the timer, waits for a round in progress and closes the pruning connection (when it is its own). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running
    if (this.pruner !== this.db) await this.pruner.close()
  }

  /** The tenant's retention in days (null: the default applies), its holds and its pruning records. */
  async get(
    tenant: string,
  ): Promise<{ days: number | null; defaultDays: number; minDays: number; holds: Hold[]; pruned: { chain: string; size: number; at: string; by: string }[] }> {
    const [r, h, p] = await Promise.all([
      this.db.query<{ days: number }>('SELECT days FROM audit_retention WHERE tenant = $1', [tenant]),
      this.db.query('SELECT * FROM audit_holds WHERE tenant = $1 ORDER BY id', [tenant]),
      this.db.query<{ chain: string; size: string; pruned_at: Date; pruned_by: string }>(
        'SELECT chain, size, pruned_at, pruned_by FROM audit_prunes WHERE audit_chain_tenant(chain) = $1 ORDER BY chain, size',
        [tenant],
      ),
    ])
    return {
      days: r.rows[0]?.days ?? null,
      defaultDays: this.opts.defaultDays,
      minDays: this.opts.minDays,
      holds: h.rows.map(holdOf),
      pruned: p.rows.map((x) => ({ chain: x.chain, size: Number(x.size), at: x.pruned_at.toISOString(), by: x.pruned_by })),
    }
  }

  /**
   * Sets (days) or clears (null) the tenant's retention; audited as `audit.retention.set`. Days below the platform's
   * floor (`--audit-retention-min-days`) are refused (400, naming `days` and the floor).
   */
  async setRetention(tenant: string, days: number | null, request?: FastifyRequest): Promise<void> {
    if (days !== null && days < this.opts.minDays)
      throw invalid(
        `\`days\` must be at least ${this.opts.minDays} (the platform's audit retention floor, --audit-retention-min-days), or null for the default`,
      )
    await this.db.tx(async (c) => {
      const { rows } = await c.query<{ days: number }>('SELECT days FROM audit_retention WHERE tenant = $1 FOR UPDATE', [tenant])
      const before = rows[0]?.days ?? null
      if (days === null) await c.query('DELETE FROM audit_retention WHERE tenant = $1', [tenant])
      else
        await c.query(
          `INSERT INTO audit_retention (tenant, days, set_by) VALUES ($1, $2, $3)
           ON CONFLICT (tenant) DO UPDATE SET days = EXCLUDED.days, set_by = EXCLUDED.set_by, set_at = clock_timestamp()`,
          [tenant, days, request?.principal?.id ?? null],
        )
      await audit({ clock: this.clock }, c, request, {
        kind: 'audit.retention.set',
        scope: scopeOf(tenant),
        target: { type: 'tenant', id: tenant },
        details: { days, before },
      })
    })
  }

  /** Places a legal hold on the tenant's chains; audited as `audit.hold.placed`. */
  async placeHold(tenant: string, reason: string, request?: FastifyRequest): Promise<Hold> {
    return this.db.tx(async (c) => {
      const { rows } = await c.query('INSERT INTO audit_holds (tenant, reason, placed_by) VALUES ($1, $2, $3) RETURNING *', [
        tenant,
        reason,
        request?.principal?.id ?? null,
      ])
      const hold = holdOf(rows[0]!)
      await audit({ clock: this.clock }, c, request, {
        kind: 'audit.hold.placed',
        scope: scopeOf(tenant),
        target: { type: 'audit_hold', id: String(hold.id) },
        details: { reason },
      })
      return hold
    })
  }

  /** Releases a hold in force; null when the tenant has no such hold in force. Audited as `audit.hold.released`. */
  async releaseHold(tenant: string, id: number, request?: FastifyRequest): Promise<Hold | null> {
    return this.db.tx(async (c) => {
      const { rows } = await c.query(
        `UPDATE audit_holds SET released_at = clock_timestamp(), released_by = $3
          WHERE id = $1 AND tenant = $2 AND released_at IS NULL RETURNING *`,
        [id, tenant, request?.principal?.id ?? null],
      )
      if (!rows[0]) return null
      const hold = holdOf(rows[0])
      await audit({ clock: this.clock }, c, request, {
        kind: 'audit.hold.released',
        scope: scopeOf(tenant),
        target: { type: 'audit_hold', id: String(id) },
        details: { reason: hold.reason },
      })
      return hold
    })
  }

  /**
   * Prunes `chain` below `size` (a signed checkpoint's size): verifies the chain first, then prunes and records an
   * `audit.pruned` entry in the chain, both on the pruning connection in one transaction. Throws {@link PruneRefused}.
   */
  async prune(chain: string, size: number, by: Actor = SYSTEM_ACTOR, request?: FastifyRequest): Promise<PruneResult> {
    const query: QueryFn = (sql, params) => this.db.query(sql, params as unknown[]) as ReturnType<QueryFn>
    const tenant = tenantOfChain(chain)
    const held = await this.db.query('SELECT 1 FROM audit_holds WHERE tenant = $1 AND released_at IS NULL', [tenant])
    if (held.rows.length > 0) throw new PruneRefused('hold', `chain ${chain} is under a legal hold`)
    const checked = await verifyTableChain(query, chain, await tableKeys(query))
    if (!checked.ok) throw new PruneRefused('unverified', `chain ${chain} fails verification at seq ${checked.seq} (${checked.finding}): not pruned`)
    try {
      return await this.pruner.tx(async (c) => {
        const { rows } = await c.query<{ from_seq: string; size: string; entries: string }>('SELECT * FROM audit_prune($1, $2, $3)', [
          chain,
          size,
          by.id ?? by.name ?? by.type,
        ])
        const r = { chain, from: Number(rows[0]!.from_seq), size: Number(rows[0]!.size), entries: Number(rows[0]!.entries) }
        await audit({ clock: this.clock }, c, request, {
          kind: 'audit.pruned',
          scope: scopeOf(tenant),
          actor: request ? undefined : by,
          target: { type: 'audit_chain', id: chain },
          details: { chain, from: r.from, size: r.size, entries: r.entries, checkpoint: r.size },
        })
        return r
      })
    } catch (e) {
      const code = (e as { code?: string }).code
      const msg = (e as Error).message
      if (code === '55006') throw new PruneRefused('hold', msg)
      if (code === '23514') throw new PruneRefused(/already pruned/.test(msg) ? 'already' : 'not_checkpointed', msg)
      throw e
    }
  }

  /** The size each chain may be pruned to now: its largest checkpoint whose last entry is past retention. */
  async due(): Promise<{ chain: string; size: number }[]> {
    const now = this.clock.now()
    const { rows } = await this.db.query<{ chain: string; size: string }>(
      `SELECT c.chain, max(c.size) AS size
         FROM audit_checkpoints c
         JOIN audit_entries e ON e.chain = c.chain AND e.seq = c.size - 1
         LEFT JOIN audit_retention r ON r.tenant = audit_chain_tenant(c.chain)
        WHERE coalesce(r.days, $2::int) > 0
          AND e.time < $1::timestamptz - make_interval(days => greatest(coalesce(r.days, $2::int), $3::int))
          AND c.size > coalesce((SELECT max(p.size) FROM audit_prunes p WHERE p.chain = c.chain), 0)
          AND NOT EXISTS (SELECT 1 FROM audit_holds h WHERE h.tenant = audit_chain_tenant(c.chain) AND h.released_at IS NULL)
        GROUP BY c.chain ORDER BY c.chain`,
      [new Date(now), this.opts.defaultDays, this.opts.minDays],
    )
    return rows.map((r) => ({ chain: r.chain, size: Number(r.size) }))
  }

  /** One pruning round (one replica at a time): every chain that has a checkpointed range past its retention. */
  async pruneDue(): Promise<PruneResult[]> {
    const lock = await this.db.pool.connect()
    try {
      const { rows } = await lock.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('cfp_audit_retention:' || current_schema())) AS ok")
      if (!rows[0]?.ok) return []
      try {
        const out: PruneResult[] = []
        for (const { chain, size } of await this.due()) {
          try {
            out.push(await this.prune(chain, size))
          } catch (e) {
            this.log(`audit chain ${chain} not pruned`, e)
          }
        }
        return out
      } finally {
        await lock.query("SELECT pg_advisory_unlock(hashtext('cfp_audit_retention:' || current_schema()))")
      }
    } finally {
      lock.release()
    }
  }
}
