/**
 * The sequencer: moves queued entries (`audit_queue`, written in the transactions of the changes they record) into
 * their chains (`audit_entries`) with gap-free `seq` and the `prev` link, stores the Merkle tree's completed nodes,
 * and signs checkpoints every `checkpointEvery` entries or `checkpointSeconds` seconds per chain (only if the
 * chain grew, and only after the consistency proof from the previous checkpoint checks out).
 *
 * One leader per schema: a dedicated connection holds a session advisory lock, LISTENs on the queue's channel
 * (migration 0011 notifies for every 32nd queued entry: a NOTIFY per write serialised the writers' commits) and
 * works when notified or every `pollMs` (100 ms). Correctness does not rest on the lock: a batch
 * takes its queue rows FOR UPDATE SKIP LOCKED and its chains' heads FOR UPDATE, so two sequencers (a leader and a
 * test's {@link Sequencer.drain}) still produce one gap-free, duplicate-free chain. A batch commits the entries,
 * the nodes, the heads and the removal of its queue rows together: a crash anywhere loses and duplicates nothing.
 */
import pg from 'pg'
import { canonicalize, verifyConsistency } from 'cfp-audit-verify'
import type { Clock } from '../clock.js'
import type { Db, Queryable } from '../db/pool.js'
import type { AuditKeys } from './keys.js'
import { chainCheckpointBody } from './keys.js'
import type { QueuedEntry } from './record.js'
import { appendLeaf, consistencyProof, frontierFromJson, frontierToJson, leafHashOf, type Node, rootOf } from './tree.js'

export interface SequencerOptions {
  batch: number
  checkpointEvery: number
  checkpointSeconds: number
  pollMs: number
}

export const SEQUENCER_DEFAULTS: SequencerOptions = { batch: 1000, checkpointEvery: 1000, checkpointSeconds: 60, pollMs: 100 }

interface HeadRow {
  chain: string
  size: string
  last_hash: Buffer
  frontier: string
}

export class Sequencer {
  private readonly opts: SequencerOptions
  private client: pg.Client | undefined
  private stopped = true
  private wake: (() => void) | undefined
  private loop: Promise<void> | undefined
  /** the last failure of the leader loop or of a checkpoint (for logs and tests) */
  lastError: Error | undefined
  /** where failures are reported (server.ts: the application log) */
  log: (msg: string, err?: unknown) => void = () => undefined

  constructor(
    private readonly db: Db,
    private readonly databaseUrl: string,
    private readonly keys: AuditKeys,
    private readonly clock: Clock,
    opts: Partial<SequencerOptions> = {},
  ) {
    this.opts = { ...SEQUENCER_DEFAULTS, ...opts }
  }

  /** Starts competing for leadership; the leader sequences until {@link stop}. */
  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.wake?.()
    await this.loop
    this.loop = undefined
  }

  /** Sequences everything queued now and signs the checkpoints that are due (tests; shutdown). */
  async drain(forceCheckpoint = false): Promise<number> {
    let moved = 0
    for (;;) {
      const n = await this.db.tx((c) => this.batch(c))
      moved += n
      if (n === 0) break
    }
    await this.checkpoints(forceCheckpoint)
    return moved
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done() {
        clearTimeout(t)
        resolve()
      }
      this.wake = done
    })
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.lead()
      } catch (err) {
        this.lastError = err as Error
        this.log('audit sequencer failed; retrying', err)
      }
      await this.client?.end().catch(() => undefined)
      this.client = undefined
      if (!this.stopped) await this.sleep(1000)
    }
  }

  private async lead(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, options: `-c search_path=${this.db.schema}` })
    client.on('error', () => this.wake?.())
    this.client = client
    await client.connect()
    // wait for leadership, polling so that stop() is honoured
    for (;;) {
      if (this.stopped) return
      const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('cfp_audit_sequencer:' || current_schema())) AS ok")
      if (rows[0]!.ok) break
      await this.sleep(1000)
    }
    const { rows } = await client.query<{ ch: string }>("SELECT 'cfp_audit_' || substr(md5(current_schema()), 1, 16) AS ch")
    client.on('notification', () => this.wake?.())
    await client.query(`LISTEN "${rows[0]!.ch}"`)
    while (!this.stopped) {
      for (;;) {
        await client.query('BEGIN')
        try {
          const n = await this.batch(client)
          await client.query('COMMIT')
          if (n < this.opts.batch) break
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined)
          throw err
        }
      }
      await this.checkpoints(false)
      await this.sleep(this.opts.pollMs)
    }
  }

  /** Moves up to `batch` queued entries into their chains, in queue order, inside the caller's transaction. */
  async batch(c: Queryable): Promise<number> {
    const { rows: queued } = await c.query<{ id: string; chain: string; entry: string }>(
      'SELECT id, chain, entry FROM audit_queue ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED',
      [this.opts.batch],
    )
    if (queued.length === 0) return 0
    const chains = [...new Set(queued.map((r) => r.chain))].sort()
    await c.query('INSERT INTO audit_heads (chain, checkpoint_at) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING', [chains, new Date(this.clock.now())])
    const { rows: heads } = await c.query<HeadRow>('SELECT chain, size, last_hash, frontier FROM audit_heads WHERE chain = ANY($1) ORDER BY chain FOR UPDATE', [
      chains,
    ])
    const state = new Map(heads.map((h) => [h.chain, { size: Number(h.size), last: h.last_hash, frontier: frontierFromJson(h.frontier) }]))
    const cols = {
      chain: [] as string[],
      seq: [] as number[],
      leaf: [] as string[],
      leafHash: [] as Buffer[],
      prev: [] as Buffer[],
      time: [] as string[],
      kind: [] as string[],
      actorType: [] as string[],
      actorId: [] as (string | null)[],
      sid: [] as (string | null)[],
      tenant: [] as (string | null)[],
      team: [] as (string | null)[],
      project: [] as (string | null)[],
      targetType: [] as (string | null)[],
      targetId: [] as (string | null)[],
      outcome: [] as string[],
      outcomeCode: [] as (string | null)[],
      requestId: [] as (string | null)[],
    }
    const nodes: (Node & { chain: string })[] = []
    for (const q of queued) {
      const head = state.get(q.chain)!
      const e = JSON.parse(q.entry) as QueuedEntry
      const full = { ...e, chain: q.chain, seq: head.size, prev: head.last.toString('hex') }
      const leaf = canonicalize(full)
      const lh = leafHashOf(leaf)
      cols.chain.push(q.chain)
      cols.seq.push(head.size)
      cols.leaf.push(leaf)
      cols.leafHash.push(lh)
      cols.prev.push(head.last)
      cols.time.push(e.time)
      cols.kind.push(e.kind)
      cols.actorType.push(e.actor.type)
      cols.actorId.push(e.actor.id)
      cols.sid.push(e.sid)
      cols.tenant.push(e.scope.tenant)
      cols.team.push(e.scope.team)
      cols.project.push(e.scope.project)
      cols.targetType.push(e.target?.type ?? null)
      cols.targetId.push(e.target?.id ?? null)
      cols.outcome.push(e.outcome.status)
      cols.outcomeCode.push(e.outcome.code)
      cols.requestId.push(e.request.id)
      for (const n of appendLeaf(head.frontier, head.size, lh)) nodes.push({ ...n, chain: q.chain })
      head.size++
      head.last = lh
    }
    await c.query(
      `INSERT INTO audit_entries (chain, seq, leaf, leaf_hash, prev, time, kind, actor_type, actor_id, sid, tenant_id, team_id, project_id,
                                  target_type, target_id, outcome, outcome_code, request_id)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[], $5::bytea[], $6::timestamptz[], $7::text[], $8::text[], $9::text[],
                            $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[])`,
      Object.values(cols),
    )
    if (nodes.length > 0) {
      await c.query('INSERT INTO audit_nodes (chain, level, idx, hash) SELECT * FROM unnest($1::text[], $2::smallint[], $3::bigint[], $4::bytea[])', [
        nodes.map((n) => n.chain),
        nodes.map((n) => n.level),
        nodes.map((n) => n.idx),
        nodes.map((n) => n.hash),
      ])
    }
    const names = [...state.keys()]
    await c.query(
      `UPDATE audit_heads h SET size = u.size, last_hash = u.last_hash, frontier = u.frontier
         FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::text[]) AS u(chain, size, last_hash, frontier) WHERE h.chain = u.chain`,
      [names, names.map((n) => state.get(n)!.size), names.map((n) => state.get(n)!.last), names.map((n) => frontierToJson(state.get(n)!.frontier))],
    )
    await c.query('DELETE FROM audit_queue WHERE id = ANY($1::bigint[])', [queued.map((r) => r.id)])
    return queued.length
  }

  /** Signs a checkpoint for every chain that grew by `checkpointEvery` entries or `checkpointSeconds` (or `force`). */
  async checkpoints(force: boolean): Promise<number> {
    const due = new Date(this.clock.now() - this.opts.checkpointSeconds * 1000)
    const { rows } = await this.db.query<{ chain: string }>(
      'SELECT chain FROM audit_heads WHERE size > checkpoint_size AND ($1 OR size - checkpoint_size >= $2 OR checkpoint_at <= $3)',
      [force, this.opts.checkpointEvery, due],
    )
    let signed = 0
    for (const { chain } of rows) {
      try {
        if (await this.db.tx((c) => this.checkpoint(c, chain))) signed++
      } catch (err) {
        this.lastError = err as Error
        this.log(`audit checkpoint of ${chain} refused`, err)
      }
    }
    return signed
  }

  private async checkpoint(c: Queryable, chain: string): Promise<boolean> {
    const { rows } = await c.query<HeadRow & { checkpoint_size: string }>(
      'SELECT chain, size, last_hash, frontier, checkpoint_size FROM audit_heads WHERE chain = $1 FOR UPDATE',
      [chain],
    )
    const head = rows[0]!
    const size = Number(head.size)
    const prevSize = Number(head.checkpoint_size)
    if (size <= prevSize) return false
    const root = rootOf(frontierFromJson(head.frontier), size)
    if (prevSize > 0) {
      const { rows: prev } = await c.query<{ root: Buffer }>('SELECT root FROM audit_checkpoints WHERE chain = $1 AND size = $2', [chain, prevSize])
      if (!prev[0]) throw new Error(`checkpoint ${chain}@${prevSize} is missing`)
      const proof = (await consistencyProof(c, chain, prevSize, size)).map((h) => Buffer.from(h, 'hex'))
      if (!verifyConsistency(prevSize, size, prev[0].root, root, proof)) {
        throw new Error(`${chain}: the tree at ${size} is not an extension of checkpoint ${prevSize}; not signing`)
      }
    }
    const { note, keyName } = await this.keys.signNote(chainCheckpointBody(chain, size, root))
    await c.query('INSERT INTO audit_checkpoints (chain, size, root, note, key_name, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      chain,
      size,
      root,
      note,
      keyName,
      new Date(this.clock.now()),
    ])
    await c.query('UPDATE audit_heads SET checkpoint_size = $2, checkpoint_at = $3 WHERE chain = $1', [chain, size, new Date(this.clock.now())])
    return true
  }
}
