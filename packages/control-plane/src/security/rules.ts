/**
 * Security rules over the audit stream (docs/control-plane.md "Security alerts"). {@link evaluate} reads the audit
 * entries after each chain's cursor (`security_cursors`), in seq order, and for each entry a rule matches counts
 * in SQL over the rule's window ending at the entry's time. An alert is raised when the count reaches the
 * threshold and no alert of the same rule and subject was raised for an entry within the window before (one alert
 * per burst, not one per entry past the threshold). In the same transaction as the cursor's advance it writes the
 * alert (`security_alerts`), queues one delivery per webhook (`security_deliveries`), carries out the configured
 * response, and records `security.alert` and `security.response` entries: all of it commits, or none of it and
 * the entries are read again.
 *
 * Rules (subject in brackets):
 * - `login_failures` [user id]: >= loginFailures denied password sign-ins (`auth.login`, `login_failed`) of one
 *   account within loginWindow → response `lock_password` for lockSeconds (`login_locks`);
 * - `refresh_reuse` [user id]: every `auth.refresh_reuse` → response `revoke_sessions` (all the user's sessions);
 * - `denied_burst` [actor id]: >= deniedBurst `authz.denied` by one actor within deniedWindow → when the actor is
 *   an API key, response `disable_api_key` (revoked like `DELETE /v1/api-keys/{id}`);
 * - `verification_failed` [chain]: an `audit.verify` with outcome error → critical alert, no response.
 *
 * One evaluator per schema does a round: a transaction-level advisory lock; another replica skips the round.
 */
import { audit } from '../audit/record.js'
import type { Clock } from '../clock.js'
import type { Db, Queryable } from '../db/pool.js'
import type { Credentials } from '../auth/credentials.js'
import type { Sessions } from '../auth/sessions.js'

export type ResponseAction = 'lock_password' | 'revoke_sessions' | 'disable_api_key'
export const RESPONSE_ACTIONS: ResponseAction[] = ['lock_password', 'revoke_sessions', 'disable_api_key']
export type Rule = 'login_failures' | 'refresh_reuse' | 'denied_burst' | 'verification_failed'
export type Severity = 'warning' | 'high' | 'critical'

export interface RuleOptions {
  /** denied password sign-ins of one account that raise `login_failures` (default 5) */
  loginFailures: number
  /** seconds they are counted over (default 900) */
  loginWindow: number
  /** seconds password sign-in stays locked (default 900) */
  lockSeconds: number
  /** `authz.denied` by one actor that raise `denied_burst` (default 20) */
  deniedBurst: number
  /** seconds they are counted over (default 300) */
  deniedWindow: number
  /** the automatic responses carried out (default all three) */
  responses: ResponseAction[]
}

export const RULE_DEFAULTS: RuleOptions = {
  loginFailures: 5,
  loginWindow: 900,
  lockSeconds: 900,
  deniedBurst: 20,
  deniedWindow: 300,
  responses: [...RESPONSE_ACTIONS],
}

export interface RuleContext {
  db: Db
  clock: Clock
  sessions: Sessions
  credentials: Credentials
  rules: RuleOptions
  /** webhook URLs: one delivery per URL per alert */
  webhookUrls: string[]
}

interface EntryRow {
  chain: string
  seq: string
  kind: string
  time: Date
  actor_type: string
  actor_id: string | null
  tenant_id: string | null
  target_id: string | null
  outcome: string
  outcome_code: string | null
  leaf: string | null
}

interface Alert {
  rule: Rule
  severity: Severity
  tenantId: string | null
  subject: string | null
  subjectType: string
  details: Record<string, unknown>
}

const SYSTEM_ACTOR = { type: 'system' as const, id: null, name: 'security rules', auth: 'system' as const }
const KINDS = ['auth.login', 'auth.refresh_reuse', 'authz.denied', 'audit.verify']
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Entries of `kind` matching `extra` in (t - window, t]. */
async function countWindow(c: Queryable, t: Date, windowS: number, where: string, params: unknown[]): Promise<number> {
  const { rows } = await c.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM audit_entries WHERE time > $1::timestamptz - make_interval(secs => $2) AND time <= $1 AND ${where}`,
    [t, windowS, ...params],
  )
  return rows[0]!.n
}

/** Was an alert of this rule and subject raised for an entry within the window before `t`? */
async function alertedWithin(c: Queryable, rule: Rule, subject: string, t: Date, windowS: number): Promise<boolean> {
  const { rowCount } = await c.query(
    `SELECT 1 FROM security_alerts WHERE rule = $1 AND subject = $2 AND source_time > $3::timestamptz - make_interval(secs => $4) LIMIT 1`,
    [rule, subject, t, windowS],
  )
  return (rowCount ?? 0) > 0
}

/** The alert an entry raises, if any. */
async function match(c: Queryable, o: RuleOptions, e: EntryRow): Promise<Alert | null> {
  const tenantId = e.tenant_id && UUID.test(e.tenant_id) ? e.tenant_id : null
  if (e.kind === 'auth.login' && e.outcome === 'denied' && e.outcome_code === 'login_failed' && e.target_id) {
    const n = await countWindow(c, e.time, o.loginWindow, "kind = 'auth.login' AND outcome = 'denied' AND outcome_code = 'login_failed' AND target_id = $3", [
      e.target_id,
    ])
    if (n < o.loginFailures || (await alertedWithin(c, 'login_failures', e.target_id, e.time, o.loginWindow))) return null
    return {
      rule: 'login_failures',
      severity: 'high',
      tenantId: null,
      subject: e.target_id,
      subjectType: 'user',
      details: { count: n, window_seconds: o.loginWindow },
    }
  }
  if (e.kind === 'auth.refresh_reuse' && e.actor_id) {
    return { rule: 'refresh_reuse', severity: 'high', tenantId, subject: e.actor_id, subjectType: 'user', details: { count: 1, window_seconds: 0 } }
  }
  if (e.kind === 'authz.denied' && e.actor_id) {
    const n = await countWindow(c, e.time, o.deniedWindow, "kind = 'authz.denied' AND actor_id = $3", [e.actor_id])
    if (n < o.deniedBurst || (await alertedWithin(c, 'denied_burst', e.actor_id, e.time, o.deniedWindow))) return null
    return {
      rule: 'denied_burst',
      severity: 'warning',
      tenantId,
      subject: e.actor_id,
      subjectType: e.actor_type,
      details: { count: n, window_seconds: o.deniedWindow, actor_type: e.actor_type },
    }
  }
  if (e.kind === 'audit.verify' && e.outcome === 'error') {
    const d = (e.leaf ? (JSON.parse(e.leaf) as { details?: Record<string, unknown> }).details : undefined) ?? {}
    const chain = typeof d.chain === 'string' ? d.chain : null
    return {
      rule: 'verification_failed',
      severity: 'critical',
      tenantId: null,
      subject: chain,
      subjectType: 'chain',
      details: { count: 1, window_seconds: 0, finding: e.outcome_code, chain, seq: typeof d.seq === 'number' ? d.seq : null },
    }
  }
  return null
}

interface Done {
  action: ResponseAction
  target: { type: string; id: string }
  tenantId: string | null
  until: string | null
  details: Record<string, unknown>
}

/** Carries out the response of an alert (if its action is on), inside the alert's transaction. */
async function respond(ctx: RuleContext, c: Queryable, a: Alert, alertId: string): Promise<Done | null> {
  const on = (x: ResponseAction) => ctx.rules.responses.includes(x)
  const now = ctx.clock.now()
  if (a.rule === 'login_failures' && on('lock_password') && a.subject) {
    const until = new Date(now + ctx.rules.lockSeconds * 1000)
    const { rowCount } = await c.query(
      `INSERT INTO login_locks (user_id, until, reason, alert_id, created_at) SELECT id, $2, $3, $4, $5 FROM users WHERE id = $1
       ON CONFLICT (user_id) DO UPDATE SET until = greatest(login_locks.until, EXCLUDED.until), reason = EXCLUDED.reason,
         alert_id = EXCLUDED.alert_id, created_at = EXCLUDED.created_at`,
      [a.subject, until, a.rule, alertId, new Date(now)],
    )
    if (!rowCount) return null
    return { action: 'lock_password', target: { type: 'user', id: a.subject }, tenantId: null, until: until.toISOString(), details: {} }
  }
  if (a.rule === 'refresh_reuse' && on('revoke_sessions') && a.subject) {
    const { rows } = await c.query<{ id: string }>('SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL FOR UPDATE', [a.subject])
    for (const r of rows) await ctx.sessions.revokeIn(c, r.id, 'security:refresh_reuse')
    return { action: 'revoke_sessions', target: { type: 'user', id: a.subject }, tenantId: a.tenantId, until: null, details: { sessions: rows.length } }
  }
  if (a.rule === 'denied_burst' && on('disable_api_key') && a.subjectType === 'api_key' && a.subject) {
    const { rows } = await c.query<{ tenant_id: string }>("SELECT tenant_id FROM credentials WHERE id = $1 AND kind = 'api_key'", [a.subject])
    if (!rows[0] || !(await ctx.credentials.revoke(c, a.subject, 'security:denied_burst'))) return null
    return { action: 'disable_api_key', target: { type: 'api_key', id: a.subject }, tenantId: rows[0].tenant_id, until: null, details: {} }
  }
  return null
}

async function raise(ctx: RuleContext, c: Queryable, e: EntryRow, a: Alert): Promise<void> {
  const { rows } = await c.query<{ id: string }>(
    `INSERT INTO security_alerts (rule, severity, tenant_id, subject, details, source_chain, source_seq, source_time, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (rule, source_chain, source_seq) DO NOTHING RETURNING id`,
    [a.rule, a.severity, a.tenantId, a.subject, JSON.stringify(a.details), e.chain, e.seq, e.time, new Date(ctx.clock.now())],
  )
  if (!rows[0]) return
  const alertId = rows[0].id
  for (const url of ctx.webhookUrls) {
    await c.query('INSERT INTO security_deliveries (alert_id, url, next_attempt_at) VALUES ($1, $2, $3)', [alertId, url, new Date(ctx.clock.now())])
  }
  const done = await respond(ctx, c, a, alertId)
  const scope = a.tenantId ? { tenant: a.tenantId } : {}
  await audit(ctx, c, undefined, {
    kind: 'security.alert',
    actor: SYSTEM_ACTOR,
    scope,
    target: { type: a.subjectType, id: a.subject },
    outcome: { status: 'ok', code: a.rule },
    details: {
      ...a.details,
      rule: a.rule,
      severity: a.severity,
      alert_id: Number(alertId),
      source: { chain: e.chain, seq: Number(e.seq) },
      webhooks: ctx.webhookUrls.length,
      response: done?.action ?? null,
    },
  })
  if (done) {
    await audit(ctx, c, undefined, {
      kind: 'security.response',
      actor: SYSTEM_ACTOR,
      scope: done.tenantId ? { tenant: done.tenantId } : {},
      target: done.target,
      details: { ...done.details, rule: a.rule, action: done.action, until: done.until, alert_id: Number(alertId) },
    })
  }
}

/**
 * One round: reads up to `batch` new entries per chain and raises what they call for. Returns how many entries
 * were read, or -1 when another evaluator holds the round.
 */
export async function evaluate(ctx: RuleContext, batch = 1000): Promise<number> {
  return ctx.db.tx(async (c) => {
    const { rows: lock } = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock(hashtext('cfp_security_rules:' || current_schema())) AS ok")
    if (!lock[0]?.ok) return -1
    const { rows: chains } = await c.query<{ chain: string; after: string }>(
      `SELECT h.chain, coalesce(sc.seq, -1) AS after FROM audit_heads h LEFT JOIN security_cursors sc ON sc.chain = h.chain
        WHERE h.size - 1 > coalesce(sc.seq, -1) ORDER BY h.chain`,
    )
    let read = 0
    for (const { chain, after } of chains) {
      const { rows } = await c.query<EntryRow>(
        `SELECT chain, seq, kind, time, actor_type, actor_id, tenant_id, target_id, outcome, outcome_code,
                CASE WHEN kind = 'audit.verify' THEN leaf END AS leaf
           FROM audit_entries WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [chain, after, batch],
      )
      for (const e of rows) {
        if (!KINDS.includes(e.kind)) continue
        const a = await match(c, ctx.rules, e)
        if (a) await raise(ctx, c, e, a)
      }
      const last = rows.at(-1)
      if (last) {
        await c.query('INSERT INTO security_cursors (chain, seq) VALUES ($1, $2) ON CONFLICT (chain) DO UPDATE SET seq = EXCLUDED.seq', [chain, last.seq])
        read += rows.length
      }
    }
    return read
  })
}

/** When password sign-in of `userId` is locked by a response, until when. */
export async function lockedUntil(q: Queryable, clock: Clock, userId: string): Promise<Date | null> {
  const { rows } = await q.query<{ until: Date }>('SELECT until FROM login_locks WHERE user_id = $1 AND until > $2', [userId, new Date(clock.now())])
  return rows[0]?.until ?? null
}
