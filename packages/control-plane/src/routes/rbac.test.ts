/**
 * RBAC at the HTTP level, generated from the matrix: every role x every action x own, sibling and foreign
 * targets. The expected outcome is read from `policy/permissions.json` with the relation computed from the
 * fixture tree (not by the evaluator under test). Control-plane actions go through their real routes; runtime
 * actions (and audit.read, which has no route yet) through `POST /v1/authz/check`. Deletions that should succeed
 * delete fresh siblings of the fixture (see `victim`), so the tree stays whole for the other cases.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadPolicy } from '../policy/load.js'
import type { Relation } from '../policy/types.js'
import { createHarness, type Harness } from '../test-support/harness.js'
import { ACTOR_BINDINGS, seedWorld, type Actor, type Node, type World } from '../test-support/world.js'

const policy = loadPolicy()
let h: Harness
let w: World

beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
})
afterAll(async () => h?.close())

const TARGETS: Record<string, string[]> = {
  system: ['system'],
  tenant: ['T1', 'T2'],
  team: ['A', 'B', 'C'],
  project: ['A1', 'A2', 'B1', 'C1'],
}
const GRANT_ROLE: Record<string, string> = { system: 'auditor', tenant: 'tenant_viewer', team: 'team_viewer', project: 'project_viewer' }
const uniq = () => randomBytes(4).toString('hex')

function expectedRelation(bindingAt: Node, target: Node): Relation | null {
  if (bindingAt.name === target.name) return 'self'
  if (target.ancestors.includes(bindingAt.name)) return 'ancestor'
  if (bindingAt.ancestors.includes(target.name)) return 'descendant'
  return null
}

async function freshMember(tenantId: string): Promise<string> {
  const [u] = await h.sql('INSERT INTO users (email) VALUES ($1) RETURNING id', [`m-${uniq()}@example.test`])
  await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [tenantId, u.id])
  return u.id
}

/** A SAML provider of the tenant, created directly in the database (the route under test is not involved). */
async function freshIdp(tenantId: string): Promise<string> {
  const config = { ssoUrl: 'https://idp.example.test/sso', idpEntityId: 'idp', idpCertificate: 'pem' }
  const [r] = await h.sql("INSERT INTO identity_providers (tenant_id, kind, name, config) VALUES ($1, 'saml', $2, $3) RETURNING id", [
    tenantId,
    `idp-${uniq()}`,
    config,
  ])
  return r.id
}

type Req = { method: string; url: string; body?: unknown }

const slugOf = async (t: Node) => (await h.sql(`SELECT slug FROM ${t.kind}s WHERE id = $1`, [t.id]))[0].slug as string

/**
 * What a DELETE of `t` aims at. A refused one aims at `t` itself (nothing happens to it). An allowed one would
 * delete it, so it aims at a fresh, empty sibling instead — the same relation to the caller as `t` for a binding
 * above it, which is the only relation the matrix grants deletion through (checked).
 */
async function victim(t: Node, allowed: boolean, rel: Relation | null): Promise<{ id: string; slug: string }> {
  if (!allowed) return { id: t.id!, slug: await slugOf(t) }
  if (rel !== 'ancestor') throw new Error(`fresh victims stand in for ${t.name} only under an ancestor binding, not ${rel}`)
  const slug = `${t.kind.slice(0, 2)}-${uniq()}`
  if (t.kind === 'tenant') {
    const [r] = await h.sql("INSERT INTO tenants (slug, name, region) VALUES ($1, $1, 'eu') RETURNING id", [slug])
    await h.sql('INSERT INTO tenant_settings (tenant_id) VALUES ($1)', [r.id])
    return { id: r.id, slug }
  }
  if (t.kind === 'team') {
    const [r] = await h.sql('INSERT INTO teams (tenant_id, slug, name) VALUES ($1, $2, $2) RETURNING id', [t.path.tenant, slug])
    return { id: r.id, slug }
  }
  const [r] = await h.sql('INSERT INTO projects (tenant_id, team_id, slug, name) VALUES ($1, $2, $3, $3) RETURNING id', [t.path.tenant, t.path.team, slug])
  await h.sql('INSERT INTO project_settings (project_id) VALUES ($1)', [r.id])
  return { id: r.id, slug }
}

/** The HTTP requests that perform `action` on `t` (with whatever setup they need): each route of the action. */
async function requestFor(action: string, t: Node, allowed: boolean, rel: Relation | null): Promise<Req | Req[]> {
  const id = t.id
  const scope = t.kind === 'system' ? { kind: 'system' } : { kind: t.kind, id }
  const pathOf = (n: Node) => ({ tenant: n.path.tenant, team: n.path.team, project: n.path.project })
  const credential = async (kind: 'api_key' | 'worker') =>
    (await h.s.credentials.create(h.s.db, { kind, project: pathOf(t) as any, name: 'x', ...(kind === 'api_key' ? { role: 'project_viewer' } : {}) })).info.id
  switch (action) {
    case 'tenant.create':
      return { method: 'POST', url: '/v1/tenants', body: { slug: `t-${uniq()}`, name: 'n', region: 'eu' } }
    case 'tenant.read':
      return { method: 'GET', url: `/v1/tenants/${id}` }
    case 'tenant.update':
      return { method: 'PATCH', url: `/v1/tenants/${id}`, body: { name: 'renamed' } }
    case 'tenant.delete': {
      const v = await victim(t, allowed, rel)
      return { method: 'DELETE', url: `/v1/tenants/${v.id}`, body: { confirm: v.slug } }
    }
    case 'user.read':
      return { method: 'GET', url: '/v1/users' }
    case 'keys.rotate':
      return { method: 'POST', url: '/v1/system/keys/rotate', body: { prepublishSeconds: 3600 } }
    case 'team.create':
      return { method: 'POST', url: `/v1/tenants/${id}/teams`, body: { slug: `tm-${uniq()}`, name: 'n' } }
    case 'team.read':
      return { method: 'GET', url: `/v1/teams/${id}` }
    case 'team.update':
      return { method: 'PATCH', url: `/v1/teams/${id}`, body: { name: 'renamed' } }
    case 'team.delete': {
      const v = await victim(t, allowed, rel)
      return { method: 'DELETE', url: `/v1/teams/${v.id}`, body: { confirm: v.slug } }
    }
    case 'project.create':
      return { method: 'POST', url: `/v1/teams/${id}/projects`, body: { slug: `p-${uniq()}`, name: 'n' } }
    case 'project.read':
      return { method: 'GET', url: `/v1/projects/${id}` }
    case 'project.update':
      return { method: 'PATCH', url: `/v1/projects/${id}`, body: { name: 'renamed' } }
    case 'project.delete': {
      const v = await victim(t, allowed, rel)
      return { method: 'DELETE', url: `/v1/projects/${v.id}`, body: { confirm: v.slug } }
    }
    case 'member.read':
      return { method: 'GET', url: `/v1/tenants/${id}/members` }
    case 'member.invite':
      return { method: 'POST', url: `/v1/tenants/${id}/members`, body: { email: `i-${uniq()}@example.test` } }
    case 'member.remove':
      return { method: 'DELETE', url: `/v1/tenants/${id}/members/${await freshMember(id!)}` }
    case 'rolebinding.read':
      return { method: 'GET', url: `/v1/rolebindings?${new URLSearchParams(scope as Record<string, string>)}` }
    case 'rolebinding.create': {
      const userId = t.path.tenant
        ? await freshMember(t.path.tenant)
        : (await h.sql('INSERT INTO users (email) VALUES ($1) RETURNING id', [`s-${uniq()}@x.test`]))[0].id
      return { method: 'POST', url: '/v1/rolebindings', body: { userId, role: GRANT_ROLE[t.kind], scope } }
    }
    case 'rolebinding.delete': {
      const userId = t.path.tenant
        ? await freshMember(t.path.tenant)
        : (await h.sql('INSERT INTO users (email) VALUES ($1) RETURNING id', [`s-${uniq()}@x.test`]))[0].id
      const [b] = await h.sql(
        'INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id, team_id, project_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
        [userId, GRANT_ROLE[t.kind], t.kind, t.path.tenant ?? null, t.path.team ?? null, t.path.project ?? null],
      )
      return { method: 'DELETE', url: `/v1/rolebindings/${b.id}` }
    }
    case 'idp.read':
      return [
        { method: 'GET', url: `/v1/tenants/${id}/idps` },
        { method: 'GET', url: `/v1/idps/${await freshIdp(id!)}` },
      ]
    case 'idp.manage':
      return [
        {
          method: 'POST',
          url: `/v1/tenants/${id}/idps`,
          body: { kind: 'saml', name: `idp-${uniq()}`, saml: { ssoUrl: 'https://idp.example.test/sso', idpEntityId: 'idp', idpCertificate: 'pem' } },
        },
        { method: 'PATCH', url: `/v1/idps/${await freshIdp(id!)}`, body: { name: `renamed-${uniq()}`, enabled: false, saml: { groupsAttribute: 'memberOf' } } },
        { method: 'DELETE', url: `/v1/idps/${await freshIdp(id!)}` },
        { method: 'PUT', url: `/v1/idps/${await freshIdp(id!)}/group-mappings`, body: { mappings: [{ group: 'g', role: 'tenant_viewer' }] } },
      ]
    case 'apikey.read':
      return { method: 'GET', url: `/v1/projects/${id}/apikeys` }
    case 'apikey.create':
      return { method: 'POST', url: `/v1/projects/${id}/apikeys`, body: { name: 'k', role: 'project_viewer' } }
    case 'apikey.revoke':
      return { method: 'DELETE', url: `/v1/projects/${id}/apikeys/${await credential('api_key')}` }
    case 'workertoken.read':
      return { method: 'GET', url: `/v1/projects/${id}/worker-tokens` }
    case 'workertoken.create':
      return { method: 'POST', url: `/v1/projects/${id}/worker-tokens`, body: { name: 'w' } }
    case 'workertoken.revoke':
      return { method: 'DELETE', url: `/v1/projects/${id}/worker-tokens/${await credential('worker')}` }
    case 'limits.update':
      return t.kind === 'tenant'
        ? { method: 'PUT', url: `/v1/tenants/${id}/limits`, body: { maxConcurrentRequests: 100 } }
        : { method: 'PUT', url: `/v1/projects/${id}/limits`, body: { maxConcurrentRequests: 10 } }
    case 'cors.update':
      return { method: 'PUT', url: `/v1/projects/${id}/cors`, body: { allowedOrigins: ['https://app.example.test'], allowCredentials: true } }
    case 'validation.update':
      return { method: 'PUT', url: `/v1/projects/${id}/validation`, body: { strict: true } }
    case 'diagnostics.update':
      return { method: 'PUT', url: `/v1/projects/${id}/diagnostics`, body: { emit: true, stateWrite: false, dlqReplay: false, stepSource: false } }
    default:
      return { method: 'POST', url: '/v1/authz/check', body: { action, scope } }
  }
}

const viaCheck = (req: Req) => req.url === '/v1/authz/check'

describe('every role x every action x own and foreign scope', () => {
  for (const [actor, role, at] of ACTOR_BINDINGS) {
    for (const [action, def] of Object.entries(policy.actions)) {
      it(`${actor} (${role}@${at}) ${action}`, async () => {
        const a: Actor = w.byName(actor)
        const cases = def.targets.flatMap((kind) => TARGETS[kind]!.map((name) => w.nodes[name]!))
        const failures = await Promise.all(
          cases.map(async (target) => {
            const rel = expectedRelation(w.nodes[at]!, target)
            const allowed = rel !== null && (policy.grants[role]?.[action]?.includes(rel) ?? false)
            const out: string[] = []
            for (const req of [await requestFor(action, target, allowed, rel)].flat()) {
              const res = await h.request(req.method, req.url, { token: a.token, body: req.body })
              const ok = viaCheck(req)
                ? res.status === 200 && res.json.allowed === allowed
                : allowed
                  ? res.status >= 200 && res.status < 300
                  : res.status === (rel === null ? 404 : 403) && typeof res.json?.error?.code === 'string'
              if (!ok)
                out.push(
                  `${req.method} ${target.name} (${rel ?? 'unrelated'}): expected ${allowed ? 'allowed' : 'denied'}, got ${res.status} ${res.body.slice(0, 160)}`,
                )
            }
            return out
          }),
        )
        expect(failures.flat()).toEqual([])
      })
    }
  }
})
