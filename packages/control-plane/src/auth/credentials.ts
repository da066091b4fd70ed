/**
 * Project API keys (`cfp_live_<prefix>_<secret>`) and worker tokens (`cfp_wkr_<prefix>_<secret>`). Both are
 * bound to one project. Only `sha256(token)` is stored; the prefix (10 characters, shown in listings) finds
 * the row. A key acts as one project role, optionally narrowed to actions; a worker token only connects a
 * worker. Revoking one writes a `credential` row to the revocation feed; deleting the project revokes them all.
 */
import { timingSafeEqual } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { Db, Queryable } from '../db/pool.js'
import type { Principal, ScopePath } from '../policy/types.js'
import type { Revocations } from './revocations.js'
import { randomAlnum, sha256 } from './secrets.js'

export type CredentialKind = 'api_key' | 'worker'
export const TOKEN_PREFIX: Record<CredentialKind, string> = { api_key: 'cfp_live_', worker: 'cfp_wkr_' }
const PATTERN = /^cfp_(live|wkr)_([a-z0-9]{10})_([A-Za-z0-9]{40})$/

export interface CredentialInfo {
  id: string
  kind: CredentialKind
  prefix: string
  name: string
  tenantId: string
  teamId: string
  projectId: string
  region: string
  role: string | null
  actions: string[] | null
  createdAt: string
  expiresAt: string | null
  revokedAt: string | null
  lastUsedAt: string | null
}

interface Row {
  id: string
  kind: CredentialKind
  prefix: string
  secret_hash: Buffer
  name: string
  tenant_id: string
  team_id: string
  project_id: string
  region: string
  role: string | null
  actions: string[] | null
  created_at: Date
  expires_at: Date | null
  revoked_at: Date | null
  last_used_at: Date | null
}

const SELECT = `SELECT c.*, t.region FROM credentials c JOIN tenants t ON t.id = c.tenant_id`

function toInfo(r: Row): CredentialInfo {
  return {
    id: r.id,
    kind: r.kind,
    prefix: r.prefix,
    name: r.name,
    tenantId: r.tenant_id,
    teamId: r.team_id,
    projectId: r.project_id,
    region: r.region,
    role: r.role,
    actions: r.actions,
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
  }
}

export function isCredentialToken(token: string): boolean {
  return token.startsWith('cfp_live_') || token.startsWith('cfp_wkr_')
}

export class Credentials {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly revocations: Revocations,
  ) {}

  async create(
    q: Queryable,
    input: {
      kind: CredentialKind
      project: Required<ScopePath>
      name: string
      role?: string
      actions?: string[]
      expiresAt?: Date
      createdBy?: string
    },
  ): Promise<{ token: string; info: CredentialInfo }> {
    const prefix = randomAlnum(10, true)
    const token = `${TOKEN_PREFIX[input.kind]}${prefix}_${randomAlnum(40)}`
    const { rows } = await q.query<{ id: string }>(
      `INSERT INTO credentials (kind, prefix, secret_hash, tenant_id, team_id, project_id, name, role, actions,
                                created_by, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
      [
        input.kind,
        prefix,
        sha256(token),
        input.project.tenant,
        input.project.team,
        input.project.project,
        input.name,
        input.role ?? null,
        input.actions ?? null,
        input.createdBy ?? null,
        new Date(this.clock.now()),
        input.expiresAt ?? null,
      ],
    )
    const { rows: full } = await q.query<Row>(`${SELECT} WHERE c.id = $1`, [rows[0]!.id])
    return { token, info: toInfo(full[0]!) }
  }

  async list(projectId: string, kind: CredentialKind): Promise<CredentialInfo[]> {
    const { rows } = await this.db.query<Row>(`${SELECT} WHERE c.project_id = $1 AND c.kind = $2 ORDER BY c.created_at`, [projectId, kind])
    return rows.map(toInfo)
  }

  async get(id: string): Promise<CredentialInfo | undefined> {
    const { rows } = await this.db.query<Row>(`${SELECT} WHERE c.id = $1`, [id])
    return rows[0] ? toInfo(rows[0]) : undefined
  }

  /** The live credential a token stands for, or undefined (unknown, wrong secret, expired, revoked). */
  async verify(token: string): Promise<CredentialInfo | undefined> {
    const m = PATTERN.exec(token)
    if (!m) return undefined
    // a deleted project's credentials were revoked with it; the join also refuses one created while it was deleted
    const { rows } = await this.db.query<Row>(`${SELECT} JOIN projects p ON p.id = c.project_id WHERE c.prefix = $1 AND p.deleted_at IS NULL`, [m[2]])
    const row = rows[0]
    if (!row || !timingSafeEqual(row.secret_hash, sha256(token))) return undefined
    if ((m[1] === 'live') !== (row.kind === 'api_key')) return undefined
    const now = this.clock.now()
    if (row.revoked_at || (row.expires_at && row.expires_at.getTime() <= now)) return undefined
    if (!row.last_used_at || now - row.last_used_at.getTime() > 60_000) {
      await this.db.query('UPDATE credentials SET last_used_at = $2 WHERE id = $1', [row.id, new Date(now)])
    }
    return toInfo(row)
  }

  async revoke(q: Queryable, id: string, reason: string): Promise<boolean> {
    const { rows } = await q.query<{ expires_at: Date | null }>(
      'UPDATE credentials SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING expires_at',
      [id, new Date(this.clock.now())],
    )
    if (!rows[0]) return false
    await this.revocations.add(q, 'credential', id, reason, rows[0].expires_at ? { expiresAt: rows[0].expires_at } : {})
    return true
  }
}

/** The principal a verified credential acts as. */
export function credentialPrincipal(c: CredentialInfo): Principal {
  const scope = { tenant: c.tenantId, team: c.teamId, project: c.projectId }
  if (c.kind === 'worker') {
    return { kind: 'worker', id: c.id, tenantId: c.tenantId, region: c.region, bindings: [{ role: 'worker', scope }] }
  }
  return {
    kind: 'api_key',
    id: c.id,
    tenantId: c.tenantId,
    region: c.region,
    bindings: [{ role: c.role!, scope }],
    ...(c.actions ? { actions: c.actions } : {}),
  }
}
