/**
 * The runtime enforces the control plane's identities (issue 4): a real control plane (in process, real HTTP
 * port, seeded with two tenants in two regions, teams, projects and one user per role binding), the real
 * `cfp-runtime` pointed at it (region eu, dev endpoints on, not dev mode), and real workers that connect with
 * control-plane worker tokens.
 *
 * - every role × every runtime action × own / sibling / foreign-tenant / other-region project, at the HTTP level;
 * - attacks: no token, forged, `alg: none`, a token of another region, a worker token as a bearer, an API key
 *   on another project, revoked API keys and sessions (refused within 5 s), a worker token revoked;
 * - settings from the control plane reach the runtime within 5 s: body limit (413), request timeout (504),
 *   concurrent requests (429), CORS allowlist (preflight and responses), diagnostics switches.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import pg from 'pg'
import { WebSocket } from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../../../packages/control-plane/src/test-support/harness.js'
import { seedWorld, type World } from '../../../packages/control-plane/src/test-support/world.js'
import { ADMIN_DATABASE_URL, childEnv, FIXTURES, REPO_ROOT, WORKER_MAIN } from '../src/env.js'
import { dropSchema, issuerOf, runtimeTokens, startControlledRuntime, type ControlledRuntime } from '../src/controlled.js'
import { Proc } from '../src/procs.js'
import { request, ROUTED } from '../src/runtime-actions.js'
import { copyProject, http, removeProject, sleep, waitFor } from '../src/util.js'

interface Matrix {
  actions: Record<string, { plane: string; diagnostic?: boolean; targets?: string[] }>
  grants: Record<string, Record<string, string[]>>
}
const matrix: Matrix = JSON.parse(readFileSync(join(REPO_ROOT, 'policy', 'permissions.json'), 'utf8'))

let h: Harness
let w: World
let runtime: ControlledRuntime
let base = ''
const workers: Proc[] = []
const schema = `rt_access_${randomBytes(4).toString('hex')}`
let projectDir = ''

const HOOK_SECRET = randomBytes(16).toString('hex')
const id = (node: string) => w.nodes[node]!.id as string
const token = (actor: string) => w.byName(actor).token

async function cp(method: string, path: string, actor: string, body?: unknown) {
  const res = await h.request(method, path, { token: token(actor), ...(body !== undefined ? { body } : {}) })
  if (res.status >= 300) throw new Error(`${method} ${path} as ${actor}: ${res.status} ${res.body}`)
  return res.json as any
}

let runtimeToken: (token: string) => Promise<string>
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`

/** A runtime request; a user's control-plane token given as `bearer` goes as the runtime token it exchanges for. */
async function rt(path: string, init: RequestInit & { json?: unknown; bearer?: string; project?: string } = {}) {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) }
  if (init.bearer) headers.authorization = `Bearer ${await runtimeToken(init.bearer)}`
  if (init.project) headers['x-cfp-project'] = init.project
  return http(base + path, { ...init, headers })
}

function startWorker(project: string, workerToken: string): Proc {
  const p = new Proc({
    name: `worker ${project}`,
    command: process.execPath,
    args: [WORKER_MAIN, '--dir', projectDir, '--url', `${base.replace('http', 'ws')}/__cfp/worker`, '--token', workerToken],
    cwd: projectDir,
    env: childEnv({ ACCESS_HOOK_SECRET: HOOK_SECRET }),
  })
  workers.push(p)
  return p
}

beforeAll(async () => {
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
  runtimeToken = runtimeTokens(h)
  runtime = await startControlledRuntime(h, {
    schema,
    issuer: issuerOf(token('sys')),
    // a retention of a few seconds, not 0: writes already under way for a deleted project (its worker's last
    // logs, the runtime's note that the worker left) land before the purge, as they do with the default 7 days
    args: ['--dev-endpoints', '--allow-loopback-oidc', '--purge-deleted-after-s', '3', '--admin-token', ADMIN_TOKEN],
  })
  base = runtime.base
  projectDir = copyProject(join(FIXTURES, 'access'))
  for (const p of ['A1', 'A2']) {
    const created = await cp('POST', `/v1/projects/${id(p)}/worker-tokens`, 't_admin', { name: `worker of ${p}` })
    const worker = startWorker(p, created.token)
    await worker.waitForLine(/registered \d+ steps/, 60_000)
  }
}, 180_000)

afterAll(async () => {
  for (const p of workers) await p.stop?.()
  for (const p of workers) p.signal('SIGKILL')
  await runtime?.stop()
  await h?.close()
  await dropSchema(schema)
  if (projectDir) removeProject(projectDir)
})

/** Relation of an actor's binding node to a node, or undefined when unrelated. */
function relation(at: string, node: string): 'self' | 'ancestor' | undefined {
  if (at === node) return 'self'
  return w.nodes[node]!.ancestors.includes(at) ? 'ancestor' : undefined
}

/** What an action on a project is checked against: the project, or its tenant for tenant-only actions. */
function checkedNode(action: string, project: string): string {
  const targets = matrix.actions[action]!.targets ?? []
  if (targets.length !== 1 || targets[0] !== 'tenant') return project
  return w.nodes[project]!.ancestors.find((a) => w.nodes[a]!.kind === 'tenant')!
}

describe('runtime enforcement of control-plane identities', () => {
  it('serves API steps only to authenticated callers', async () => {
    const res = await rt(`/p/${id('A1')}/ping`, { method: 'POST', json: { id: 'x' } })
    expect(res.status).toBe(401)
    expect(res.json.error.code).toBe('unauthenticated')
  })

  it('checks every role × runtime action on own, sibling, foreign-tenant and other-region projects', async () => {
    // Diagnostic actions also need the project's switches: on for A1 only.
    await cp('PUT', `/v1/projects/${id('A1')}/diagnostics`, 't_admin', { emit: true, stateWrite: true, dlqReplay: true, stepSource: true })
    await waitFor(
      'diagnostics switched on in the runtime',
      async () => {
        const res = await rt('/__cfp/api/dlq/999999', { method: 'DELETE', bearer: token('t_admin'), project: id('A1') })
        return res.status === 404 && res.json.error.message.includes('dead letter')
      },
      { timeoutMs: 5_000 },
    )
    expect(ROUTED.sort()).toEqual(
      Object.keys(matrix.actions)
        .filter((a) => matrix.actions[a]!.plane === 'runtime' && a !== 'worker.connect')
        .sort(),
    )
    const failures: string[] = []
    let checked = 0
    for (const actor of w.actors) {
      for (const target of ['A1', 'A2', 'B1', 'C1']) {
        for (const action of ROUTED) {
          const { path, init, allowed, missing } = request(action, id(target))
          const res = await rt(path, { ...init, bearer: actor.token })
          checked++
          const rel = relation(actor.at, target)
          // C1 lives in region us: a runtime of eu knows no such project.
          let expected: number
          if (target === 'C1' || !rel) expected = 404
          else if (!(matrix.grants[actor.role]?.[action] ?? []).includes(relation(actor.at, checkedNode(action, target)) ?? '-')) expected = 403
          else if (matrix.actions[action]!.diagnostic && target !== 'A1')
            expected = 403 // switch off on A2/B1
          else if (action === 'step.invoke' && target === 'B1')
            expected = 404 // allowed, but no worker hosts B1
          else expected = allowed
          const message = res.json?.error?.message ?? ''
          const allowed404 = expected === 404 && !!missing?.test(message)
          const refused404 = expected === 404 && message.includes('no project')
          const ok = res.status === expected && (expected !== 404 || (rel && target !== 'C1' ? allowed404 : refused404))
          if (!ok)
            failures.push(`${actor.name} (${actor.role}@${actor.at}) ${action} on ${target}: ${res.status} ${JSON.stringify(res.json)} (expected ${expected})`)
        }
      }
    }
    expect(failures).toEqual([])
    expect(checked).toBe(w.actors.length * 4 * ROUTED.length)
  }, 180_000)

  it('refuses forged, alg:none, other-region and worker tokens with a JSON error and no detail', async () => {
    const good = token('p_editor')
    const [header, payload] = good.split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, rb: [{ role: 'system_admin', scope: {} }] })).toString('base64url')
    const forged = `${header}.${forgedPayload}.${good.split('.')[2]}`
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: JSON.parse(Buffer.from(header!, 'base64url').toString()).kid })).toString('base64url')}.${forgedPayload}.`
    const wt = await cp('POST', `/v1/projects/${id('A1')}/worker-tokens`, 't_admin', { name: 'not a bearer' })
    for (const [label, bearer] of [
      ['forged', forged],
      ['alg none', none],
      ['garbage', 'abc.def.ghi'],
      ['worker token', wt.token],
      ['unknown API key', `cfp_live_abcdefghij_${'x'.repeat(40)}`],
    ] as const) {
      const res = await rt(`/p/${id('A1')}/ping`, { method: 'POST', json: { id: 'x' }, bearer })
      expect(res.status, label).toBe(401)
      // a value of no CFP form is no credential at all (an app's own token, passed to the step): unauthenticated
      expect(res.json.error.code, label).toBe(label === 'garbage' ? 'unauthenticated' : 'invalid_token')
      expect(res.text, label).not.toMatch(/stack|sql|panick/i)
    }
    // A token of the us region (an admin of tenant T2) is refused by the eu runtime, whatever project it names.
    const [u] = await h.sql("INSERT INTO users (email, display_name) VALUES ('t2-admin@example.test', 't2') RETURNING id")
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [id('T2'), u.id])
    await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id) VALUES ($1, 'tenant_admin', 'tenant', $2)", [u.id, id('T2')])
    const us = await h.login(u.id, id('T2'))
    for (const p of ['C1', 'A1']) {
      const res = await rt('/__cfp/api/steps', { bearer: us.access, project: id(p) })
      expect(res.status, p).toBe(401)
    }
  })

  it('ATTACK (issue 9): a step that returns its request sees no CFP credential, only the verified principal', async () => {
    const key = await cp('POST', `/v1/projects/${id('A1')}/apikeys`, 't_admin', { name: 'echo', role: 'project_editor' })
    const adminCp = token('t_admin')
    const adminRt = await runtimeToken(adminCp)
    expect(adminRt).not.toBe(adminCp)
    const secrets = [adminCp, adminRt, key.token, ADMIN_TOKEN]
    const echo = (headers: Record<string, string>, query = '') =>
      http(`${base}/p/${id('A1')}/echo${query}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' })
    const cases: [string, Record<string, string>, string, string?][] = [
      ["an admin's access token", { authorization: `Bearer ${adminRt}` }, 'user'],
      ['an API key in Authorization', { authorization: `Bearer ${key.token}` }, 'api_key'],
      ['an API key in X-API-Key', { 'x-api-key': key.token }, 'api_key'],
      ['the admin token', { authorization: `Bearer ${ADMIN_TOKEN}` }, 'admin'],
      [
        'the admin token in X-API-Key, tokens in a cookie and the query',
        { 'x-api-key': ADMIN_TOKEN, cookie: `theme=dark; cfp=${adminCp}` },
        'admin',
        `?access_token=${adminRt}&q=1`,
      ],
    ]
    for (const [label, headers, kind, query] of cases) {
      const res = await echo(headers, query)
      expect(res.status, `${label}: ${res.text}`).toBe(200)
      for (const secret of secrets) expect(res.text.includes(secret), `${label}: the step saw a credential`).toBe(false)
      expect(res.json.headers.authorization, label).toBeUndefined()
      expect(res.json.auth, label).toMatchObject({ kind, tenant: id('T1'), project: id('A1') })
    }
    expect((await echo({ cookie: `theme=dark; cfp=${adminCp}`, 'x-api-key': ADMIN_TOKEN }, '?access_token=x&q=1')).json).toMatchObject({
      headers: { cookie: 'theme=dark' },
      query: { access_token: 'x', q: '1' },
    })
    const user = (await echo({ authorization: `Bearer ${adminRt}` })).json.auth
    expect(user).toEqual({ kind: 'user', subject: w.byName('t_admin').userId, tenant: id('T1'), project: id('A1'), roles: ['tenant_admin'] })
    // and what a step could have harvested before is worth nothing at the control plane
    const grant = { userId: w.byName('p_editor').userId, role: 'tenant_admin', scope: { kind: 'tenant', id: id('T1') } }
    expect((await h.request('POST', '/v1/rolebindings', { token: adminRt, body: grant })).status).toBe(401)
  })

  it("keeps a Motia app's own auth working: its Authorization reaches the middleware, the CFP credential goes in X-API-Key", async () => {
    const key = await cp('POST', `/v1/projects/${id('A1')}/apikeys`, 't_admin', { name: 'own-auth', role: 'project_editor' })
    const call = (headers: Record<string, string>) =>
      http(`${base}/p/${id('A1')}/own-auth`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' })
    for (const credential of [key.token, await runtimeToken(token('p_editor'))]) {
      const ok = await call({ authorization: 'Bearer my-app-token', 'x-api-key': credential })
      expect(ok.status, ok.text).toBe(200)
      expect(ok.json.headers.authorization).toBe('Bearer my-app-token')
      expect(ok.json.headers['x-api-key']).toBeUndefined()
      // the app's own middleware still decides about its own token
      const noAppToken = await call({ 'x-api-key': credential })
      expect(noAppToken.status).toBe(401)
      expect(noAppToken.json).toEqual({ error: 'the app wants its own token' })
    }
    // without a CFP credential the runtime refuses before any step code runs
    const none = await call({ authorization: 'Bearer my-app-token' })
    expect(none.status).toBe(401)
    expect(none.json.error.code).toBe('unauthenticated')
  })

  it('keeps tenants of the same region apart: tokens of one tenant never see the other', async () => {
    // Tenant T3 in region eu, like T1, with a project and its own admin.
    const [t3] = await h.sql("INSERT INTO tenants (slug, name, region) VALUES ('t3-co', 'T3', 'eu') RETURNING id")
    await h.sql('INSERT INTO tenant_settings (tenant_id) VALUES ($1)', [t3.id])
    const [team] = await h.sql("INSERT INTO teams (tenant_id, slug, name) VALUES ($1, 't3-team', 't3-team') RETURNING id", [t3.id])
    const [p3] = await h.sql("INSERT INTO projects (tenant_id, team_id, slug, name) VALUES ($1, $2, 't3-proj', 't3-proj') RETURNING id", [t3.id, team.id])
    await h.sql('INSERT INTO project_settings (project_id) VALUES ($1)', [p3.id])
    const [u] = await h.sql("INSERT INTO users (email, display_name) VALUES ('t3-admin@example.test', 't3') RETURNING id")
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [t3.id, u.id])
    await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id) VALUES ($1, 'tenant_admin', 'tenant', $2)", [u.id, t3.id])
    const t3admin = (await h.login(u.id, t3.id)).access
    await waitFor('T3 synced to the runtime', async () => (await rt('/__cfp/api/steps', { bearer: t3admin, project: p3.id })).status === 200, {
      timeoutMs: 5_000,
    })
    for (const [label, bearer, project] of [
      ['T1 admin on T3', token('t_admin'), p3.id],
      ['T3 admin on A1', t3admin, id('A1')],
    ] as const) {
      for (const path of ['/__cfp/api/steps', '/__cfp/api/state', '/__cfp/api/logs', '/__cfp/api/traces']) {
        const res = await rt(path, { bearer, project })
        expect(res.status, `${label} ${path}`).toBe(404)
        expect(res.json.error.message, label).toContain('no project')
      }
    }
    expect((await rt(`/p/${id('A1')}/ping`, { method: 'POST', json: { id: 'x' }, bearer: t3admin })).status).toBe(404)
  })

  it('keeps projects apart: an API key of A1 never reaches A2, and state written in A1 is invisible in A2', async () => {
    const key = await cp('POST', `/v1/projects/${id('A1')}/apikeys`, 't_admin', { name: 'client', role: 'project_editor' })
    const pingId = `iso-${randomBytes(3).toString('hex')}`
    const ok = await rt(`/p/${id('A1')}/ping`, { method: 'POST', json: { id: pingId }, bearer: key.token })
    expect(ok.status).toBe(202)
    const other = await rt(`/p/${id('A2')}/ping`, { method: 'POST', json: { id: pingId }, bearer: key.token })
    expect(other.status).toBe(404)
    const viaHeader = await rt('/__cfp/api/state', { bearer: key.token, project: id('A2') })
    expect(viaHeader.status).toBe(404)
    const stateOf = async (p: string) => (await rt('/__cfp/api/state/pongs', { bearer: token('t_admin'), project: id(p) })).json
    await waitFor('the ping stored in A1', async () => (await stateOf('A1')).items?.some((i: any) => i.key === pingId), { timeoutMs: 10_000 })
    expect((await stateOf('A2')).items?.some((i: any) => i.key === pingId) ?? false).toBe(false)
  })

  it('refuses a revoked API key and a logged-out session within 5 s', async () => {
    const key = await cp('POST', `/v1/projects/${id('A1')}/apikeys`, 't_admin', { name: 'short-lived', role: 'project_viewer' })
    expect((await rt('/__cfp/api/steps', { bearer: key.token })).status).toBe(200)
    await cp('DELETE', `/v1/projects/${id('A1')}/apikeys/${key.credential.id}`, 't_admin')
    const revokedAt = Date.now()
    await waitFor('API key refused', async () => (await rt('/__cfp/api/steps', { bearer: key.token })).status === 401, { timeoutMs: 5_000 })
    const keyLatency = Date.now() - revokedAt

    const session = await h.login(w.byName('p_viewer').userId, id('T1'))
    expect((await rt('/__cfp/api/steps', { bearer: session.access, project: id('A1') })).status).toBe(200)
    const out = await h.request('POST', '/v1/auth/logout', { token: session.access })
    expect(out.status).toBe(200)
    const loggedOutAt = Date.now()
    await waitFor('session refused', async () => (await rt('/__cfp/api/steps', { bearer: session.access, project: id('A1') })).status === 401, {
      timeoutMs: 5_000,
    })
    console.log(`revocation reached the runtime: API key ${keyLatency} ms, session ${Date.now() - loggedOutAt} ms`)
  })

  it('ends /live feeds and stream sockets within 5 s when their credential ends (revoked key, removed binding, logout)', async () => {
    // A /live feed read with fetch: resolves with the `credential_ended` event's data, or rejects if the feed
    // ends without it.
    const feed = async (credential: string) => {
      const res = await fetch(`${base}/__cfp/api/live?project=${id('A1')}`, { headers: { authorization: `Bearer ${credential}` } })
      expect(res.status).toBe(200)
      const reader = res.body!.getReader()
      // Wrapped: an async function returning a promise would be awaited whole by the caller.
      return {
        ended: (async () => {
          let text = ''
          for (;;) {
            const { done, value } = await reader.read()
            if (done) throw new Error(`the feed ended without credential_ended: ${text.slice(-300)}`)
            text += Buffer.from(value).toString()
            const m = /event: credential_ended\ndata: (.*)\n/.exec(text)
            if (m) return JSON.parse(m[1]!) as { error: { code: string } }
          }
        })(),
      }
    }
    // A stream socket: resolves with its close code and reason.
    const socket = async (credential: string) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}/?project=${id('A1')}`, { headers: { authorization: `Bearer ${credential}` } })
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve())
        ws.once('unexpected-response', (_req, res) => reject(new Error(`stream socket refused: ${res.statusCode}`)))
        ws.once('error', reject)
      })
      return {
        closed: new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
      }
    }
    const within = async <T>(what: string, p: Promise<T>, from: number): Promise<{ value: T; ms: number }> => {
      const value = await Promise.race([p, sleep(5_000).then(() => Promise.reject(new Error(`${what} still open 5 s after its credential ended`)))])
      return { value, ms: Date.now() - from }
    }

    // 1. An API key, revoked.
    const key = await cp('POST', `/v1/projects/${id('A1')}/apikeys`, 't_admin', { name: 'held', role: 'project_viewer' })
    const keyFeed = await feed(key.token)
    const keySocket = await socket(key.token)
    await sleep(300)
    let at = Date.now()
    await cp('DELETE', `/v1/projects/${id('A1')}/apikeys/${key.credential.id}`, 't_admin')
    const keyEnded = await within('the API key feed', keyFeed.ended, at)
    expect(keyEnded.value.error.code).toBe('invalid_token')
    const keyClosed = await within('the API key socket', keySocket.closed, at)
    expect(keyClosed.value).toEqual({ code: 4401, reason: 'invalid_token' })

    // 2. A user whose only role binding is removed: their earlier tokens are revoked.
    const [u] = await h.sql('INSERT INTO users (email, display_name) VALUES ($1, $1) RETURNING id', [`held-${randomBytes(4).toString('hex')}@example.test`])
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [id('T1'), u.id])
    const binding = await cp('POST', '/v1/rolebindings', 't_admin', { userId: u.id, role: 'project_viewer', scope: { kind: 'project', id: id('A1') } })
    const session = await h.login(u.id, id('T1'))
    const userToken = await runtimeToken(session.access)
    const userFeed = await feed(userToken)
    const userSocket = await socket(userToken)
    await sleep(300)
    at = Date.now()
    await cp('DELETE', `/v1/rolebindings/${binding.id}`, 't_admin')
    const userEnded = await within('the user feed', userFeed.ended, at)
    expect(userEnded.value.error.code).toBe('invalid_token')
    const userClosed = await within('the user socket', userSocket.closed, at)
    expect(userClosed.value.code).toBe(4401)

    // 3. A session logged out.
    const viewer = await h.login(w.byName('p_viewer').userId, id('T1'))
    const viewerFeed = await feed(await runtimeToken(viewer.access))
    await sleep(300)
    at = Date.now()
    expect((await h.request('POST', '/v1/auth/logout', { token: viewer.access })).status).toBe(200)
    const viewerEnded = await within('the logged-out feed', viewerFeed.ended, at)
    expect(viewerEnded.value.error.code).toBe('invalid_token')
    console.log(
      `held connections ended after: API key feed ${keyEnded.ms} ms, socket ${keyClosed.ms} ms; removed binding feed ${userEnded.ms} ms, socket ${userClosed.ms} ms; logout ${viewerEnded.ms} ms`,
    )
  })

  it("ends a removed member's tokens for that tenant within 5 s, and keeps their tokens for their other tenants", async () => {
    // Tenant T4 in region eu, with a project; p_viewer (project_viewer of A1 in T1) also joins T4 as its viewer.
    const [t4] = await h.sql("INSERT INTO tenants (slug, name, region) VALUES ('t4-co', 'T4', 'eu') RETURNING id")
    await h.sql('INSERT INTO tenant_settings (tenant_id) VALUES ($1)', [t4.id])
    const [team] = await h.sql("INSERT INTO teams (tenant_id, slug, name) VALUES ($1, 't4-team', 't4-team') RETURNING id", [t4.id])
    const [p4] = await h.sql("INSERT INTO projects (tenant_id, team_id, slug, name) VALUES ($1, $2, 't4-proj', 't4-proj') RETURNING id", [t4.id, team.id])
    await h.sql('INSERT INTO project_settings (project_id) VALUES ($1)', [p4.id])
    const user = w.byName('p_viewer').userId
    await h.sql('INSERT INTO memberships (tenant_id, user_id) VALUES ($1, $2)', [t4.id, user])
    await h.sql("INSERT INTO role_bindings (user_id, role, scope_kind, tenant_id) VALUES ($1, 'tenant_viewer', 'tenant', $2)", [user, t4.id])
    const forT1 = (await h.login(user, id('T1'))).access
    const forT4 = (await h.login(user, t4.id)).access
    await waitFor('T4 synced to the runtime', async () => (await rt('/__cfp/api/steps', { bearer: forT4, project: p4.id })).status === 200, {
      timeoutMs: 5_000,
    })
    expect((await rt('/__cfp/api/steps', { bearer: forT1, project: id('A1') })).status).toBe(200)

    expect((await h.request('DELETE', `/v1/tenants/${t4.id}/members/${user}`, { token: token('sys') })).status).toBe(204)
    await waitFor('the T4 token refused', async () => (await rt('/__cfp/api/steps', { bearer: forT4, project: p4.id })).status === 401, { timeoutMs: 5_000 })
    // the revocation has reached the runtime: the user's T1 token is still good there
    expect((await rt('/__cfp/api/steps', { bearer: forT1, project: id('A1') })).status).toBe(200)
  })

  it('applies limits from the control plane within 5 s and names them', async () => {
    const a1 = id('A1')
    await cp('PUT', `/v1/projects/${a1}/limits`, 't_admin', { maxBodyBytes: 64, requestTimeoutMs: 300, maxConcurrentRequests: 1 })
    const changedAt = Date.now()
    await waitFor(
      'body limit applied',
      async () => {
        const res = await rt(`/p/${a1}/ping`, { method: 'POST', json: { id: 'x'.repeat(100) }, bearer: token('p_admin') })
        return res.status === 413 && res.json.error.message.includes('maxBodyBytes (64 bytes)')
      },
      { timeoutMs: 5_000, intervalMs: 50 },
    )
    console.log(`a limit changed in the control plane applied on the runtime after ${Date.now() - changedAt} ms`)
    const slow = await rt(`/p/${a1}/slow?ms=1500`, { bearer: token('p_admin') })
    expect(slow.status).toBe(504)
    expect(slow.json.error.message).toContain('requestTimeoutMs 300')
    const [first, second] = await Promise.all([
      rt(`/p/${a1}/slow?ms=250`, { bearer: token('p_admin') }),
      sleep(50).then(() => rt(`/p/${a1}/slow?ms=0`, { bearer: token('p_admin') })),
    ])
    expect(first.status).toBe(200)
    expect(second.status).toBe(429)
    expect(second.json.error).toMatchObject({ code: 'limit_exceeded' })
    expect(second.json.error.message).toContain('maxConcurrentRequests (1)')
    // A2 is untouched by A1's limits.
    expect((await rt(`/p/${id('A2')}/ping`, { method: 'POST', json: { id: 'y'.repeat(100) }, bearer: token('t_admin') })).status).toBe(202)

    // maxConcurrentExecutions counts the project's step executions (API calls and deliveries).
    await cp('PUT', `/v1/projects/${a1}/limits`, 't_admin', { maxConcurrentExecutions: 1 })
    const concurrent = async (first: string, second: string) =>
      Promise.all([rt(first, { bearer: token('t_admin') }), sleep(60).then(() => rt(second, { bearer: token('t_admin') }))])
    await waitFor(
      'maxConcurrentExecutions applied',
      async () => {
        const [, b] = await concurrent(`/p/${a1}/slow?ms=300`, `/p/${a1}/slow?ms=0`)
        return b.status === 429 && b.json.error.message.includes('maxConcurrentExecutions (1) of the project')
      },
      { timeoutMs: 5_000 },
    )
    await cp('PUT', `/v1/projects/${a1}/limits`, 't_admin', {})

    // A tenant's own limit bounds the sum over its projects: A1 busy leaves no room for A2.
    await cp('PUT', `/v1/tenants/${id('T1')}/limits`, 't_admin', { maxConcurrentRequests: 1 })
    await waitFor(
      'tenant maxConcurrentRequests applied',
      async () => {
        const [a, b] = await concurrent(`/p/${a1}/slow?ms=300`, `/p/${id('A2')}/slow?ms=0`)
        return a.status === 200 && b.status === 429 && b.json.error.message.includes('maxConcurrentRequests (1) of its tenant')
      },
      { timeoutMs: 5_000 },
    )
    await cp('PUT', `/v1/tenants/${id('T1')}/limits`, 't_admin', {})
    await cp('PUT', `/v1/projects/${a1}/limits`, 't_admin', {})
  })

  it('answers CORS from the project allowlist: exact origins, credentials only when allowed', async () => {
    const a1 = id('A1')
    await cp('PUT', `/v1/projects/${a1}/cors`, 't_admin', { allowedOrigins: ['https://app.example'], allowCredentials: true })
    const preflight = (origin: string) =>
      rt(`/p/${a1}/ping`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      })
    await waitFor('CORS allowlist applied', async () => (await preflight('https://app.example')).status === 204, { timeoutMs: 5_000 })
    const ok = await preflight('https://app.example')
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true')
    expect(ok.headers.get('access-control-allow-methods')).toBe('POST')
    const evil = await preflight('https://evil.example')
    expect(evil.status).toBe(403)
    expect(evil.headers.get('access-control-allow-origin')).toBeNull()
    const real = await rt(`/p/${a1}/ping`, { method: 'POST', json: { id: 'cors' }, bearer: token('p_admin'), headers: { origin: 'https://app.example' } })
    expect(real.status).toBe(202)
    expect(real.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(real.headers.get('access-control-expose-headers')).toContain('x-trace-id')
    expect(real.headers.get('vary')).toMatch(/origin/i)
    const denied = await rt(`/p/${a1}/ping`, { method: 'POST', json: { id: 'cors' }, bearer: token('p_admin'), headers: { origin: 'https://evil.example' } })
    expect(denied.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('validates events against the topic schema: a warning when lenient, refused naming the field when strict', async () => {
    const a1 = id('A1')
    const bad = await rt(`/p/${a1}/ping`, { method: 'POST', json: { id: 42 }, bearer: token('p_editor') })
    expect(bad.status).toBe(202)
    const trace = bad.headers.get('x-trace-id')
    await waitFor(
      'the lenient warning in the logs',
      async () => {
        const logs = (await rt(`/__cfp/api/logs?traceId=${trace}`, { bearer: token('p_editor'), project: a1 })).json.logs as any[]
        return logs.some((l) => l.level === 'warn' && l.msg.includes('data.id: expected string, got integer'))
      },
      { timeoutMs: 5_000 },
    )
    const lenientEmit = await rt('/__cfp/api/emit', {
      method: 'POST',
      json: { topic: 'ping.received', data: { id: 7 } },
      bearer: token('p_editor'),
      project: a1,
    })
    expect(lenientEmit.status).toBe(202)
    expect(lenientEmit.json.warning).toContain('data.id')

    await cp('PUT', `/v1/projects/${a1}/validation`, 't_admin', { strict: true })
    await waitFor(
      'strict validation applied',
      async () => {
        const res = await rt('/__cfp/api/emit', { method: 'POST', json: { topic: 'ping.received', data: { id: 7 } }, bearer: token('p_editor'), project: a1 })
        return res.status === 400 && res.json.error.code === 'invalid_event' && res.json.error.message.includes('data.id: expected string, got integer')
      },
      { timeoutMs: 5_000 },
    )
    const refused = await rt(`/p/${a1}/ping`, { method: 'POST', json: { id: 42 }, bearer: token('p_editor') })
    // Outside dev mode the caller gets Motia's generic answer; the reason is in the step's log under the trace.
    expect(refused.status).toBe(500)
    expect(refused.json).toEqual({ error: 'Internal server error', code: 'handler_error' })
    const refusedTrace = refused.headers.get('x-trace-id')
    const logged = await waitFor('the refusal in the step log', async () => {
      const res = await rt(`/__cfp/api/logs?traceId=${refusedTrace}&level=error`, { bearer: token('p_editor'), project: a1 })
      return (res.json.logs as Array<{ msg: string; step?: string }> | undefined)?.find((l) => l.step === 'Ping')
    })
    expect(logged.msg).toContain('emit rejected by strict validation')
    expect(logged.msg).toContain('data.id: expected string, got integer')
    expect((await rt(`/p/${a1}/ping`, { method: 'POST', json: { id: 'fine' }, bearer: token('p_editor') })).status).toBe(202)
    // Another project keeps the runtime's default (lenient).
    expect((await rt(`/p/${id('A2')}/ping`, { method: 'POST', json: { id: 42 }, bearer: token('t_admin') })).status).toBe(202)
    await cp('PUT', `/v1/projects/${a1}/validation`, 't_admin', { strict: false })
  })

  it("serves a step's source from its worker to editors when the diagnostics switch allows", async () => {
    const res = await rt('/__cfp/api/steps/Ping/source', { bearer: token('p_editor'), project: id('A1') })
    expect(res.status).toBe(200)
    expect(res.json.file).toBe('steps/ping.step.ts')
    expect(res.json.text).toContain("name: 'Ping'")
    const missing = await rt('/__cfp/api/steps/Nope/source', { bearer: token('p_editor'), project: id('A1') })
    expect(missing.status).toBe(404)
  })

  it("accepts end users' tokens from the project's own OIDC provider for its API steps, and nothing else", async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256')
    const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' }
    const idp = createServer((req, res) => {
      res.writeHead(req.url === '/jwks' ? 200 : 404, { 'content-type': 'application/json' })
      res.end(JSON.stringify(req.url === '/jwks' ? { keys: [jwk] } : {}))
    })
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r))
    const issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`
    try {
      await cp('PUT', `/v1/projects/${id('A1')}/auth`, 't_admin', { oidc: { issuer, audience: 'shop-app', jwksUrl: `${issuer}/jwks` } })
      const sign = (claims: Record<string, unknown>, exp = '5m') =>
        new SignJWT({ email: 'eve@shop.example', ...claims })
          .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
          .setIssuer(issuer)
          .setAudience('shop-app')
          .setSubject('end-user-1')
          .setIssuedAt()
          .setExpirationTime(exp)
          .sign(privateKey)
      const good = await sign({})
      await waitFor(
        'the project OIDC provider applied',
        async () => (await rt(`/p/${id('A1')}/ping`, { method: 'POST', json: { id: 'end-user' }, bearer: good })).status === 202,
        { timeoutMs: 5_000 },
      )
      // only the project's API steps: not the runtime API, not another project
      expect((await rt('/__cfp/api/steps', { bearer: good, project: id('A1') })).status).toBe(401)
      expect((await rt(`/p/${id('A2')}/ping`, { method: 'POST', json: { id: 'x' }, bearer: good })).status).toBe(401)
      const wrongAudience = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
        .setIssuer(issuer)
        .setAudience('other-app')
        .setSubject('u')
        .setExpirationTime('5m')
        .sign(privateKey)
      const expired = await sign({}, '-2m')
      for (const [label, bearer] of [
        ['wrong audience', wrongAudience],
        ['expired', expired],
      ] as const) {
        const res = await rt(`/p/${id('A1')}/ping`, { method: 'POST', json: { id: 'x' }, bearer })
        expect(res.status, label).toBe(401)
        expect(res.json.error.code, label).toBe('invalid_token')
      }
      const { privateKey: otherKey } = await generateKeyPair('ES256')
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
        .setIssuer(issuer)
        .setAudience('shop-app')
        .setSubject('u')
        .setExpirationTime('5m')
        .sign(otherKey)
      expect((await rt(`/p/${id('A1')}/ping`, { method: 'POST', json: { id: 'x' }, bearer: forged })).status).toBe(401)
    } finally {
      await cp('PUT', `/v1/projects/${id('A1')}/auth`, 't_admin', { oidc: null })
      idp.close()
    }
  })

  it('lets uncredentialed callers reach only signed webhook steps, only with a valid signature, and only once', async () => {
    const body = JSON.stringify({ action: 'opened' })
    const signature = `sha256=${createHmac('sha256', HOOK_SECRET).update(body).digest('hex')}`
    const call = (path: string, headers: Record<string, string>) =>
      rt(path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })
    const ok = await call(`/p/${id('A1')}/hook`, { 'x-hub-signature-256': signature })
    expect(ok.status).toBe(200)
    expect(ok.json).toEqual({ received: 'opened' })
    // ATTACK (issue 9 item 7): the captured request replayed, signature and all, is refused (no timestamp header).
    const replayed = await call(`/p/${id('A1')}/hook`, { 'x-hub-signature-256': signature })
    expect(replayed.status).toBe(409)
    expect(replayed.json.error.code).toBe('webhook_replayed')
    const forged = await call(`/p/${id('A1')}/hook`, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` })
    expect(forged.status).toBe(401)
    expect(forged.json.error.code).toBe('invalid_signature')
    const unsigned = await call(`/p/${id('A1')}/hook`, {})
    expect(unsigned.status).toBe(401)
    // Other steps, and routes that do not exist, still need credentials (and reveal nothing).
    for (const path of [`/p/${id('A1')}/ping`, `/p/${id('A1')}/nowhere`, `/p/${id('B1')}/hook`]) {
      const res = await call(path, { 'x-hub-signature-256': signature })
      expect(res.status, path).toBe(401)
      expect(res.json.error.code, path).toBe('unauthenticated')
    }
  })

  it('drops a worker whose token is revoked and refuses it on reconnect', async () => {
    const created = await cp('POST', `/v1/projects/${id('A2')}/worker-tokens`, 't_admin', { name: 'to revoke' })
    const worker = startWorker('A2-extra', created.token)
    await worker.waitForLine(/registered \d+ steps/, 60_000)
    const from = worker.lines.length
    await cp('DELETE', `/v1/projects/${id('A2')}/worker-tokens/${created.credential.id}`, 't_admin')
    await worker.waitForLine(/revoked|not valid|unauthenticated/i, 10_000, from)
  })

  // last: it deletes A2
  it('forgets a deleted project within 5 s (404 like any unknown project), drops its workers and purges its data after the retention', async () => {
    const a2 = id('A2')
    expect((await rt(`/p/${a2}/ping`, { method: 'POST', json: { id: 'before' }, bearer: token('t_admin') })).status).toBe(202)
    const worker = workers[1]!
    const from = worker.lines.length
    await cp('DELETE', `/v1/projects/${a2}`, 't_admin', { confirm: 'a2-proj' })
    const deletedAt = Date.now()
    await waitFor(
      'the deleted project unknown to the runtime',
      async () => {
        const res = await rt(`/p/${a2}/ping`, { method: 'POST', json: { id: 'after' }, bearer: token('t_admin') })
        return res.status === 404 && res.json.error.code === 'not_found'
      },
      { timeoutMs: 5_000, intervalMs: 50 },
    )
    console.log(`a deleted project answered 404 on the runtime after ${Date.now() - deletedAt} ms`)
    expect((await rt('/__cfp/api/steps', { bearer: token('sys'), project: a2 })).status).toBe(404)
    await worker.waitForLine(/revoked|not valid|unauthenticated/i, 10_000, from)
    // A1 is untouched
    expect((await rt(`/p/${id('A1')}/ping`, { method: 'POST', json: { id: 'still' }, bearer: token('t_admin') })).status).toBe(202)

    // after the retention (3 s here) the runtime purges A2's data: every table, nothing of A1
    const db = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
    await db.connect()
    try {
      const count = async (project: string) => {
        let n = 0
        for (const t of ['queue', 'dead_letters', 'state', 'logs', 'spans', 'stream_items', 'stream_defs', 'steps']) {
          n += Number((await db.query(`SELECT count(*) AS n FROM ${schema}.${t} WHERE project_id = $1`, [project])).rows[0].n)
        }
        return n
      }
      await waitFor(
        'the deleted project purged',
        async () => {
          const { rows } = await db.query(`SELECT purged_at, purged_rows FROM ${schema}.deleted_projects WHERE project_id = $1`, [a2])
          return rows[0]?.purged_at != null
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      )
      const { rows } = await db.query(`SELECT purged_rows FROM ${schema}.deleted_projects WHERE project_id = $1`, [a2])
      console.log(`purged ${rows[0].purged_rows} rows of the deleted project`)
      expect(Number(rows[0].purged_rows)).toBeGreaterThan(0)
      expect(await count(a2)).toBe(0)
      expect(await count(id('A1'))).toBeGreaterThan(0)
    } finally {
      await db.end()
    }
  })
})
