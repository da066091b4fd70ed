/**
 * The platform's ceilings on limits (issue 9 item 5): a tenant admin cannot raise their tenant's or a project's
 * limits above what the operator allows (`--ceiling-*`), and what runtimes receive never exceeds the ceilings,
 * even for values stored before a ceiling was lowered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness, SERVICE_TOKEN } from '../test-support/harness.js'
import { seedWorld, type World } from '../test-support/world.js'

let h: Harness
let w: World
const ceilings = { maxBodyBytes: 2_000_000, requestTimeoutMs: 60_000, maxConcurrentRequests: 500, maxConcurrentExecutions: 400 }

beforeAll(async () => {
  h = await createHarness({ options: { limitCeilings: ceilings } })
  w = await seedWorld(h)
})
afterAll(async () => h?.close())

describe('limit ceilings', () => {
  it('refuses a tenant admin raising their tenant above the ceiling (100 MiB, 900 s), naming the ceiling', async () => {
    const res = await h.request('PUT', `/v1/tenants/${w.nodes.T1!.id}/limits`, {
      token: w.byName('t_admin').token,
      body: { maxBodyBytes: 104_857_600, requestTimeoutMs: 900_000 },
    })
    expect(res.status).toBe(400)
    expect(res.json.error.message).toContain('maxBodyBytes: the platform allows at most 2000000')
    expect(res.json.error.message).toContain('--ceiling-body-bytes')
    const stored = await h.request('GET', `/v1/tenants/${w.nodes.T1!.id}/limits`, { token: w.byName('t_admin').token })
    expect(stored.json.maxBodyBytes).toBeUndefined()
  })

  it('refuses a project above the ceiling and accepts one at it', async () => {
    const a1 = w.nodes.A1!.id
    const over = await h.request('PUT', `/v1/projects/${a1}/limits`, { token: w.byName('p_admin').token, body: { requestTimeoutMs: 60_001 } })
    expect(over.status).toBe(400)
    expect(over.json.error.message).toContain('requestTimeoutMs: the platform allows at most 60000')
    const at = await h.request('PUT', `/v1/projects/${a1}/limits`, { token: w.byName('p_admin').token, body: { requestTimeoutMs: 60_000 } })
    expect(at.status).toBe(200)
    expect(at.json.effectiveLimits.requestTimeoutMs).toBe(60_000)
  })

  it('never sends runtimes more than the ceiling, whatever was stored', async () => {
    const a2 = w.nodes.A2!.id
    // as if stored before the ceiling was lowered
    await h.sql(
      `UPDATE project_settings SET limits = '{"maxBodyBytes": 50000000, "maxConcurrentRequests": 9000}', version = nextval('settings_version') WHERE project_id = $1`,
      [a2],
    )
    await h.sql(`UPDATE tenant_settings SET limits = '{"maxConcurrentExecutions": 90000}' WHERE tenant_id = $1`, [w.nodes.T1!.id])
    const feed = await h.request('GET', '/v1/service/projects?region=eu&since=0', { token: SERVICE_TOKEN })
    const p = feed.json.items.find((i: { projectId: string }) => i.projectId === a2)
    expect(p.limits).toMatchObject({ maxBodyBytes: 2_000_000, maxConcurrentRequests: 500, maxConcurrentExecutions: 400 })
    expect(p.tenantLimits).toMatchObject({ maxConcurrentExecutions: 400 })
    const settings = await h.request('GET', `/v1/projects/${a2}/settings`, { token: w.byName('t_admin').token })
    expect(settings.json.effectiveLimits).toMatchObject({ maxBodyBytes: 2_000_000, maxConcurrentRequests: 500 })
  })
})
