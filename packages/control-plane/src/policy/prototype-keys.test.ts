/**
 * Regression found by the API fuzz suite (tests/api-fuzz): role and action names from requests index the
 * policy's maps, and `constructor`, `toString` or `__proto__` used to reach Object.prototype — a 500 from
 * `POST /v1/authz/check`, role bindings, group mappings and API-key actions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'
import { can, canGrant } from './evaluate.js'
import { loadPolicy } from './load.js'

const KEYS = ['constructor', 'toString', '__proto__', 'hasOwnProperty']

describe('the loaded policy', () => {
  it('knows no role or action named after an Object.prototype member', () => {
    const policy = loadPolicy()
    const admin = { kind: 'user' as const, id: 'u', region: 'eu', bindings: [{ role: 'system_admin', scope: {} }] }
    for (const k of KEYS) {
      expect(policy.roles[k], k).toBeUndefined()
      expect(policy.actions[k], k).toBeUndefined()
      expect(policy.grants.system_admin![k], k).toBeUndefined()
      expect(can(policy, admin, k, {}), k).toBe(false)
      expect(canGrant(policy, admin, k, {}), k).toBe(false)
    }
  })
})

describe('requests naming such a role or action', () => {
  let h: Harness
  let w: World
  beforeAll(async () => {
    h = await createHarness()
    w = await seedWorld(h)
  })
  afterAll(async () => h?.close())

  it('are answered, not crashed on', async () => {
    const token = w.byName('sys').token
    const project = w.nodes.A1!.id!
    const user = w.byName('t_admin').userId
    const idp = await h.request('POST', `/v1/tenants/${w.nodes.T1!.id}/idps`, {
      token,
      body: { kind: 'saml', name: 'proto-keys', saml: { ssoUrl: 'https://idp.example.test/sso', idpEntityId: 'e', idpCertificate: 'c' } },
    })
    expect(idp.status).toBe(201)
    for (const k of KEYS) {
      const check = await h.request('POST', '/v1/authz/check', { token, body: { action: k, scope: { kind: 'system' } } })
      expect([check.status, check.json], k).toEqual([200, { allowed: false }])
      const binding = await h.request('POST', '/v1/rolebindings', { token, body: { userId: user, role: k, scope: { kind: 'system' } } })
      expect([binding.status, binding.json?.error?.code], k).toEqual([400, 'invalid_request'])
      const mapping = await h.request('PUT', `/v1/idps/${idp.json.id}/group-mappings`, { token, body: { mappings: [{ group: 'g', role: k }] } })
      expect([mapping.status, mapping.json?.error?.code], k).toEqual([400, 'invalid_request'])
      const key = await h.request('POST', `/v1/projects/${project}/apikeys`, { token, body: { name: 'k', role: 'project_viewer', actions: [k] } })
      expect([key.status, key.json?.error?.code], k).toEqual([400, 'invalid_request'])
    }
    expect(await h.sql("SELECT 1 FROM credentials WHERE name = 'k'")).toEqual([])
  })
})
