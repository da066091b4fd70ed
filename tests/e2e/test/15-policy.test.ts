/**
 * The runtime checks with the permission matrix the control plane enforces, not only the one compiled into it:
 * a control plane started with a changed `policy/permissions.json` (project viewers may no longer read logs, and
 * may write state) and a real `cfp-runtime` built with the original file. The runtime fetches the control
 * plane's matrix at start (`GET /v1/service/policy`) and every minute, and says in its log that they differ.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../../../packages/control-plane/src/test-support/harness.js'
import { seedWorld, type World } from '../../../packages/control-plane/src/test-support/world.js'
import { loadPolicy } from '../../../packages/control-plane/src/policy/load.js'
import { dropSchema, issuerOf, runtimeTokens, startControlledRuntime } from '../src/controlled.js'
import type { Proc } from '../src/procs.js'
import { http } from '../src/util.js'

let h: Harness
let w: World
let runtime: Proc
let base = ''
const schema = `rt_policy_${randomBytes(4).toString('hex')}`

beforeAll(async () => {
  const policy = loadPolicy()
  const viewer = policy.grants.project_viewer as Record<string, string[]>
  delete viewer['logs.read']
  viewer['state.write'] = ['self']
  h = await createHarness({ listen: true, policy })
  w = await seedWorld(h)
  const rt = await startControlledRuntime(h, {
    schema,
    issuer: issuerOf(w.byName('sys').token),
    args: ['--dev-endpoints'],
    env: { CFP_LOG: 'info,sqlx=warn' },
  })
  runtime = rt.proc
  base = rt.base
}, 120_000)

afterAll(async () => {
  runtime?.signal('SIGTERM')
  await runtime?.exited
  await h?.close()
  await dropSchema(schema)
})

describe('the permission matrix of the control plane', () => {
  it('is the one the runtime checks with, and the runtime says it differs from its own', async () => {
    await runtime.waitForLine(/permission matrix differs from the one built into this runtime/, 10_000)
    const a1 = w.nodes.A1!.id as string
    const viewer = await runtimeTokens(h)(w.byName('p_viewer').token)
    const call = (path: string, init: RequestInit & { json?: unknown } = {}) =>
      http(base + path, { ...init, headers: { authorization: `Bearer ${viewer}`, 'x-cfp-project': a1 } })
    // still granted by both matrices
    expect((await call('/__cfp/api/steps')).status).toBe(200)
    // taken away by the control plane's matrix
    const logs = await call('/__cfp/api/logs?limit=1')
    expect(logs.status).toBe(403)
    expect(logs.json.error.message).toContain('logs.read')
    // granted by the control plane's matrix (and then refused only by the project's diagnostics switch)
    const switched = await h.request('PUT', `/v1/projects/${a1}/diagnostics`, {
      token: w.byName('t_admin').token,
      body: { emit: false, stateWrite: true, dlqReplay: false, stepSource: false },
    })
    expect(switched.status, switched.body).toBe(200)
    let write = await call('/__cfp/api/state/probe/k', { method: 'PUT', json: { v: 1 } })
    for (let i = 0; i < 50 && write.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100))
      write = await call('/__cfp/api/state/probe/k', { method: 'PUT', json: { v: 1 } })
    }
    expect(write.status, JSON.stringify(write.json)).toBe(200)
  })
})
