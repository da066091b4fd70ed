/**
 * Reading the audit chain (docs/control-plane.md, Audit): search entries, one entry with its inclusion proof,
 * checkpoints, consistency proofs between two tree sizes, and the audit public keys. Access is `audit.read` on
 * what is read: the system (every chain; the `control:system` chain), a tenant (its chain) or a project (its
 * entries). Bad parameters get 400 `invalid_request` naming the parameter in the message and in
 * `details.parameter`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { authorize, principalOf } from '../authz.js'
import { locate, type Located } from '../db/scopes.js'
import { ApiError, notFound } from '../errors.js'
import { can } from '../policy/evaluate.js'
import type { ScopePath } from '../policy/types.js'
import type { Services } from '../services.js'
import { verifierKey } from '../audit/keys.js'
import { audit } from '../audit/record.js'
import { SYSTEM_CHAIN } from '../audit/record.js'
import { consistencyProof, inclusionProof, rootAt } from '../audit/tree.js'
import { list, obj, spec } from './schema.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const CHAIN = /^control:(system|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/
const MAX_LIMIT = 500
const tags = ['audit']

const bad = (parameter: string, message: string) => new ApiError(400, 'invalid_request', `${parameter}: ${message}`, { parameter })

type Query = Record<string, string | undefined>

function only(q: Query, allowed: string[]): void {
  for (const k of Object.keys(q)) if (!allowed.includes(k)) throw bad(k, 'unknown parameter')
}

function time(q: Query, name: string): Date | undefined {
  const v = q[name]
  if (v === undefined) return undefined
  const d = new Date(v)
  if (!RFC3339.test(v) || Number.isNaN(d.getTime())) throw bad(name, 'must be an RFC 3339 time such as 2026-12-07T17:10:01Z')
  return d
}

function count(q: Query, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = q[name]
  if (v === undefined) return undefined
  if (!/^\d{1,16}$/.test(v) || Number(v) < min || Number(v) > max) throw bad(name, `must be an integer from ${min} to ${max}`)
  return Number(v)
}

function uuid(q: Query, name: string): string | undefined {
  const v = q[name]
  if (v !== undefined && !UUID.test(v)) throw bad(name, 'must be a UUID')
  return v
}

function chainParam(v: string | undefined, name = 'chain'): string {
  if (v === undefined) throw bad(name, 'is required')
  if (!CHAIN.test(v)) throw bad(name, 'must be control:system or control:<tenant id>')
  return v
}

/** The scope a chain belongs to, for `audit.read`. */
function chainScope(chain: string): ScopePath {
  return chain === SYSTEM_CHAIN ? {} : { tenant: chain.slice('control:'.length) }
}

/** Authorizes `audit.read` on a chain (404 when the caller may not learn of it). */
function authorizeChain(request: FastifyRequest, s: Services, chain: string): void {
  const target: Located = { path: chainScope(chain), region: '' }
  authorize(request, s, 'audit.read', target, 'chain')
}

interface EntryRow {
  chain: string
  seq: string
  leaf: string
  leaf_hash: Buffer
  time: Date
}

const toEntry = (r: EntryRow) => ({ chain: r.chain, seq: Number(r.seq), leafHash: r.leaf_hash.toString('hex'), entry: JSON.parse(r.leaf) as unknown })

function encodeCursor(r: EntryRow): string {
  return Buffer.from(JSON.stringify([r.time.toISOString(), r.chain, Number(r.seq)])).toString('base64url')
}

function decodeCursor(v: string | undefined): [string, string, number] | undefined {
  if (v === undefined) return undefined
  try {
    const c = JSON.parse(Buffer.from(v, 'base64url').toString()) as unknown
    if (Array.isArray(c) && c.length === 3 && typeof c[0] === 'string' && RFC3339.test(c[0]) && CHAIN.test(String(c[1])) && Number.isSafeInteger(c[2])) {
      return c as [string, string, number]
    }
  } catch {
    // falls through
  }
  throw bad('cursor', 'is not a cursor this endpoint returned')
}

const str = { type: 'string', maxLength: 400 } as const
const entrySchema = obj({
  chain: { type: 'string' },
  seq: { type: 'integer' },
  leafHash: { type: 'string' },
  entry: { type: 'object', additionalProperties: true },
})
const proofSchema = obj({ leaf_index: { type: 'integer' }, tree_size: { type: 'integer' }, path: { type: 'array', items: { type: 'string' } } })
const checkpointSchema = obj({
  chain: { type: 'string' },
  size: { type: 'integer' },
  root: { type: 'string' },
  note: { type: 'string' },
  keyName: { type: 'string' },
  createdAt: { type: 'string' },
})

export function auditRoutes(app: FastifyInstance, s: Services): void {
  app.get<{ Querystring: Query }>(
    '/v1/audit/entries',
    {
      schema: spec({
        summary:
          'Search audit entries, newest first. Without tenant or project: every chain (audit.read on the system); with ' +
          'tenant: that tenant’s chain; with project: that project’s entries. Page with the returned cursor',
        tags,
        querystring: {
          type: 'object',
          properties: Object.fromEntries(
            ['from', 'to', 'actor', 'kind', 'tenant', 'project', 'outcome', 'sid', 'chain', 'cursor', 'limit'].map((k) => [k, str]),
          ),
        },
        response: { 200: obj({ items: { type: 'array', items: entrySchema }, next: { type: ['string', 'null'] } }) },
      }),
    },
    async (request) => {
      const q = request.query
      only(q, ['from', 'to', 'actor', 'kind', 'tenant', 'project', 'outcome', 'sid', 'chain', 'cursor', 'limit'])
      const from = time(q, 'from')
      const to = time(q, 'to')
      if (from && to && from > to) throw bad('to', 'must not be before from')
      const tenant = uuid(q, 'tenant')
      const project = uuid(q, 'project')
      const actor = q.actor
      if (actor !== undefined && (actor.length === 0 || actor.length > 200)) throw bad('actor', 'must be 1 to 200 characters')
      const kind = q.kind
      if (kind !== undefined && !/^[a-z][a-z0-9_.]{0,99}\*?$/.test(kind))
        throw bad('kind', 'must be an event kind such as project.create, or a prefix ending in * (project.*)')
      const outcome = q.outcome
      if (outcome !== undefined && !['ok', 'denied', 'error'].includes(outcome)) throw bad('outcome', 'must be ok, denied or error')
      const sid = uuid(q, 'sid')
      const chain = q.chain === undefined ? undefined : chainParam(q.chain)
      if (chain && (tenant || project)) throw bad('chain', 'give either chain or tenant/project, not both')
      const limit = count(q, 'limit', 1, MAX_LIMIT) ?? 100
      const cursor = decodeCursor(q.cursor)

      const where: string[] = []
      const args: unknown[] = []
      const add = (sql: string, v: unknown) => {
        args.push(v)
        where.push(sql.replace('?', `$${args.length}`))
      }
      if (project) {
        const located = await locate(s.db, 'project', project)
        authorize(request, s, 'audit.read', located, 'project')
        add('project_id = ?', project)
      } else if (tenant) {
        authorizeChain(request, s, `control:${tenant}`)
        add('chain = ?', `control:${tenant}`)
      } else if (chain) {
        authorizeChain(request, s, chain)
        add('chain = ?', chain)
      } else {
        authorize(request, s, 'audit.read', await locate(s.db, 'system'), 'audit log')
      }
      if (from) add('time >= ?', from)
      if (to) add('time <= ?', to)
      if (actor) add('actor_id = ?', actor)
      if (kind) kind.endsWith('*') ? add("kind LIKE ? || '%'", kind.slice(0, -1)) : add('kind = ?', kind)
      if (outcome) add('outcome = ?', outcome)
      if (sid) add('sid = ?', sid)
      if (cursor) {
        args.push(cursor[0], cursor[1], cursor[2])
        where.push(`(time, chain, seq) < ($${args.length - 2}::timestamptz, $${args.length - 1}, $${args.length})`)
      }
      args.push(limit + 1)
      const { rows } = await s.db.query<EntryRow>(
        `SELECT chain, seq, leaf, leaf_hash, time FROM audit_entries ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY time DESC, chain DESC, seq DESC LIMIT $${args.length}`,
        args,
      )
      const page = rows.slice(0, limit)
      return { items: page.map(toEntry), next: rows.length > limit ? encodeCursor(page[page.length - 1]!) : null }
    },
  )

  app.get<{ Params: { chain: string; seq: string }; Querystring: Query }>(
    '/v1/audit/entries/:chain/:seq',
    {
      schema: spec({
        summary:
          'One audit entry with its RFC 9162 inclusion proof in the tree of `tree_size` (default: the latest checkpoint ' +
          'that contains it, with that checkpoint; else the chain’s current size)',
        tags,
        params: { type: 'object', properties: { chain: str, seq: str } },
        querystring: { type: 'object', properties: { tree_size: str } },
        response: {
          200: obj({ ...entrySchema.properties, leaf: { type: 'string' }, proof: proofSchema, root: { type: 'string' }, checkpoint: checkpointSchema }, [
            'chain',
            'seq',
            'leafHash',
            'entry',
            'leaf',
            'proof',
            'root',
          ]),
        },
      }),
    },
    async (request) => {
      const chain = chainParam(request.params.chain)
      const seq = count({ seq: request.params.seq }, 'seq', 0)!
      only(request.query, ['tree_size'])
      const treeSize = count(request.query, 'tree_size', 1)
      const p = principalOf(request)
      const { rows } = await s.db.query<EntryRow & { tenant_id: string | null; team_id: string | null; project_id: string | null }>(
        'SELECT chain, seq, leaf, leaf_hash, time, tenant_id, team_id, project_id FROM audit_entries WHERE chain = $1 AND seq = $2',
        [chain, seq],
      )
      const row = rows[0]
      // readable with audit.read on its chain, or on the project it is about
      const path: ScopePath = row?.project_id && row.team_id ? { tenant: row.tenant_id!, team: row.team_id, project: row.project_id } : chainScope(chain)
      if (!can(s.policy, p, 'audit.read', chainScope(chain)) && !(row && can(s.policy, p, 'audit.read', path))) {
        authorizeChain(request, s, chain)
      }
      if (!row) throw notFound('audit entry')
      const { rows: head } = await s.db.query<{ size: string }>('SELECT size FROM audit_heads WHERE chain = $1', [chain])
      const size = Number(head[0]?.size ?? 0)
      if (treeSize !== undefined && (treeSize <= seq || treeSize > size)) throw bad('tree_size', `must be from ${seq + 1} to ${size}`)
      const { rows: cps } = await s.db.query<CheckpointRow>(
        treeSize === undefined
          ? 'SELECT * FROM audit_checkpoints WHERE chain = $1 AND size > $2 ORDER BY size DESC LIMIT 1'
          : 'SELECT * FROM audit_checkpoints WHERE chain = $1 AND size = $2',
        [chain, treeSize ?? seq],
      )
      const n = treeSize ?? (cps[0] ? Number(cps[0].size) : size)
      const path2 = await inclusionProof(s.db, chain, seq, n)
      const root = cps[0] ? cps[0].root : await rootAt(s.db, chain, n)
      return {
        ...toEntry(row),
        leaf: row.leaf,
        proof: { leaf_index: seq, tree_size: n, path: path2 },
        root: root.toString('hex'),
        ...(cps[0] ? { checkpoint: toCheckpoint(cps[0]) } : {}),
      }
    },
  )

  app.get<{ Querystring: Query }>(
    '/v1/audit/checkpoints',
    {
      schema: spec({
        summary: 'Signed checkpoints of a chain, newest first (before: only those of a smaller size)',
        tags,
        querystring: { type: 'object', properties: { chain: str, before: str, limit: str } },
        response: { 200: list(checkpointSchema) },
      }),
    },
    async (request) => {
      only(request.query, ['chain', 'before', 'limit'])
      const chain = chainParam(request.query.chain)
      const before = count(request.query, 'before', 1)
      const limit = count(request.query, 'limit', 1, MAX_LIMIT) ?? 100
      authorizeChain(request, s, chain)
      const { rows } = await s.db.query<CheckpointRow>(
        'SELECT * FROM audit_checkpoints WHERE chain = $1 AND ($2::bigint IS NULL OR size < $2) ORDER BY size DESC LIMIT $3',
        [chain, before ?? null, limit],
      )
      return { items: rows.map(toCheckpoint) }
    },
  )

  app.get<{ Querystring: Query }>(
    '/v1/audit/consistency',
    {
      schema: spec({
        summary: 'The RFC 9162 consistency proof between tree sizes first <= second of a chain, with both roots',
        tags,
        querystring: { type: 'object', properties: { chain: str, first: str, second: str } },
        response: {
          200: obj({
            chain: { type: 'string' },
            first: { type: 'integer' },
            second: { type: 'integer' },
            path: { type: 'array', items: { type: 'string' } },
            firstRoot: { type: 'string' },
            secondRoot: { type: 'string' },
          }),
        },
      }),
    },
    async (request) => {
      only(request.query, ['chain', 'first', 'second'])
      const chain = chainParam(request.query.chain)
      const first = count(request.query, 'first', 1)
      const second = count(request.query, 'second', 1)
      if (first === undefined) throw bad('first', 'is required')
      if (second === undefined) throw bad('second', 'is required')
      if (first > second) throw bad('first', 'must not exceed second')
      authorizeChain(request, s, chain)
      const { rows } = await s.db.query<{ size: string }>('SELECT size FROM audit_heads WHERE chain = $1', [chain])
      const size = Number(rows[0]?.size ?? 0)
      if (second > size) throw bad('second', `must not exceed the chain's size ${size}`)
      const path = await consistencyProof(s.db, chain, first, second)
      const [a, b] = await Promise.all([rootAt(s.db, chain, first), rootAt(s.db, chain, second)])
      return { chain, first, second, path, firstRoot: a.toString('hex'), secondRoot: b.toString('hex') }
    },
  )

  app.post(
    '/v1/audit/keys/rotate',
    {
      schema: spec({
        summary: 'Rotate the audit checkpoint key: a new Ed25519 key signs from now on; the old public key stays for verification',
        tags,
        response: { 200: obj({ name: { type: 'string' }, keyId: { type: 'string' }, retired: { type: 'array', items: { type: 'string' } } }) },
      }),
    },
    async (request) => {
      authorize(request, s, 'keys.rotate', await locate(s.db, 'system'))
      let retired: string[] = []
      const row = await s.auditKeys.rotate(async (c, name, old) => {
        retired = old
        await audit(s, c, request, { kind: 'audit_key.rotate', target: { type: 'audit_key', id: name }, details: { name, retired: old.join(',') || null } })
      })
      return { name: row.name, keyId: row.key_id.toString('hex'), retired }
    },
  )

  app.get(
    '/v1/audit/keys',
    {
      config: { auth: 'public' },
      schema: spec({
        summary: 'The audit public keys (current and retired) in the signed-note verifier-key form',
        tags,
        public: true,
        response: {
          200: list(
            obj({
              name: { type: 'string' },
              keyId: { type: 'string' },
              publicKey: { type: 'string' },
              verifierKey: { type: 'string' },
              createdAt: { type: 'string' },
              retiredAt: { type: ['string', 'null'] },
            }),
          ),
        },
      }),
    },
    async () => {
      const keys = await s.auditKeys.list()
      return {
        items: keys.map((k) => ({
          name: k.name,
          keyId: k.keyId.toString('hex'),
          publicKey: k.publicKey.toString('base64'),
          verifierKey: verifierKey(k),
          createdAt: k.createdAt.toISOString(),
          retiredAt: k.retiredAt?.toISOString() ?? null,
        })),
      }
    },
  )
}

interface CheckpointRow {
  chain: string
  size: string
  root: Buffer
  note: string
  key_name: string
  created_at: Date
}

function toCheckpoint(r: CheckpointRow) {
  return { chain: r.chain, size: Number(r.size), root: r.root.toString('hex'), note: r.note, keyName: r.key_name, createdAt: r.created_at.toISOString() }
}
