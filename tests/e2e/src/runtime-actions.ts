/**
 * The runtime actions of the permission matrix that have an HTTP route, and the request that exercises each on a
 * project (used by test/11-access.test.ts: every role × action × project relation).
 */

/**
 * The request that exercises one runtime action on a project, and what an allowed caller gets: `allowed` (the
 * status) and the message of a 404 that says the route ran and found nothing (`missing`).
 */
export interface ActionRequest {
  path: string
  init: RequestInit & { json?: unknown; project?: string }
  allowed: number
  missing?: RegExp
}

export function request(action: string, project: string): ActionRequest {
  switch (action) {
    case 'step.invoke':
      return { path: `/p/${project}/ping`, init: { method: 'POST', json: { id: 'rbac' } }, allowed: 202, missing: /no API step/ }
    case 'flow.read':
      return { path: '/__cfp/api/steps', init: { project }, allowed: 200 }
    case 'logs.read':
      return { path: '/__cfp/api/logs?limit=1', init: { project }, allowed: 200 }
    case 'traces.read':
      return { path: '/__cfp/api/traces?limit=1', init: { project }, allowed: 200 }
    case 'state.read':
      return { path: '/__cfp/api/state', init: { project }, allowed: 200 }
    case 'state.write':
      return { path: '/__cfp/api/state/rbac-probe/k', init: { method: 'PUT', json: { edited: true }, project }, allowed: 200 }
    case 'step.source.read':
      return { path: '/__cfp/api/steps/Ping/source', init: { project }, allowed: 200 }
    case 'dlq.read':
      return { path: '/__cfp/api/dlq', init: { project }, allowed: 200 }
    case 'dlq.replay':
      return { path: '/__cfp/api/dlq/999999', init: { method: 'DELETE', project }, allowed: 404, missing: /dead letter/ }
    case 'audit.runtime.read':
      return { path: '/__cfp/api/audit/entries?limit=1', init: { project }, allowed: 200 }
    case 'slo.write':
      return { path: '/__cfp/api/slo/rbac-probe', init: { method: 'DELETE', project }, allowed: 404, missing: /no SLO override/ }
    case 'usage.read':
      return { path: '/__cfp/api/usage?granularity=hour', init: { project }, allowed: 200 }
    case 'audit.runtime.retention.write':
      return { path: '/__cfp/api/audit/retention', init: { method: 'PUT', json: { days: 365 }, project }, allowed: 200 }
    case 'audit.runtime.hold.place':
      return { path: '/__cfp/api/audit/holds', init: { method: 'POST', json: { reason: 'rbac probe' }, project }, allowed: 201 }
    case 'audit.runtime.hold.release':
      return { path: '/__cfp/api/audit/holds/999999', init: { method: 'DELETE', project }, allowed: 404, missing: /no legal hold/ }
    case 'emit':
      return { path: '/__cfp/api/emit', init: { method: 'POST', json: { topic: 'nobody.listens', data: {} }, project }, allowed: 202 }
    default:
      throw new Error(`no runtime route for ${action}`)
  }
}

/** Runtime actions with a route; `worker.connect` is a worker token's, never a role's (tested below). */
export const ROUTED = [
  'step.invoke',
  'flow.read',
  'logs.read',
  'traces.read',
  'state.read',
  'state.write',
  'dlq.read',
  'dlq.replay',
  'emit',
  'step.source.read',
  'audit.runtime.read',
  'slo.write',
  'usage.read',
  'audit.runtime.retention.write',
  'audit.runtime.hold.place',
  'audit.runtime.hold.release',
]
