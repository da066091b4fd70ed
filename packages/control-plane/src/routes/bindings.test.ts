/** The installation always keeps an operator: the last system_admin binding cannot be removed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
beforeAll(async () => {
  h = await createHarness()
  w = await seedWorld(h)
})
afterAll(async () => h?.close())

describe('system_admin bindings', () => {
  it('refuse removing the last one (409, nothing changed), allow it once another exists', async () => {
    const sys = w.byName('sys')
    const [only] = await h.sql("SELECT id FROM role_bindings WHERE role = 'system_admin'")
    const refused = await h.request('DELETE', `/v1/rolebindings/${only.id}`, { token: sys.token })
    expect(refused.status).toBe(409)
    expect(refused.json.error.message).toContain('last system_admin')
    expect(await h.sql("SELECT id FROM role_bindings WHERE role = 'system_admin'")).toHaveLength(1)
    const other = w.byName('t_admin')
    const added = await h.request('POST', '/v1/rolebindings', {
      token: sys.token,
      body: { userId: other.userId, role: 'system_admin', scope: { kind: 'system' } },
    })
    expect(added.status).toBe(201)
    const removed = await h.request('DELETE', `/v1/rolebindings/${only.id}`, { token: sys.token })
    expect(removed.status).toBe(204)
  })
})
