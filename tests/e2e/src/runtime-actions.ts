/**
 * The runtime actions of the permission matrix that have an HTTP route, and the request that exercises each on a
 * project (used by test/11-access.test.ts: every role × action × project relation).
 */

/** The request that exercises one runtime action on a project. */
export function request(action: string, project: string): { path: string; init: RequestInit & { json?: unknown; project?: string } } {
  switch (action) {
    case 'step.invoke':
      return { path: `/p/${project}/ping`, init: { method: 'POST', json: { id: 'rbac' } } }
    case 'flow.read':
      return { path: '/__cfp/api/steps', init: { project } }
    case 'logs.read':
      return { path: '/__cfp/api/logs?limit=1', init: { project } }
    case 'traces.read':
      return { path: '/__cfp/api/traces?limit=1', init: { project } }
    case 'state.read':
      return { path: '/__cfp/api/state', init: { project } }
    case 'state.write':
      return { path: '/__cfp/api/state/rbac-probe/k', init: { method: 'PUT', json: { edited: true }, project } }
    case 'step.source.read':
      return { path: '/__cfp/api/steps/Ping/source', init: { project } }
    case 'dlq.read':
      return { path: '/__cfp/api/dlq', init: { project } }
    case 'dlq.replay':
      return { path: '/__cfp/api/dlq/999999', init: { method: 'DELETE', project } }
    case 'audit.runtime.read':
      return { path: '/__cfp/api/audit/entries?limit=1', init: { project } }
    case 'slo.write':
      return { path: '/__cfp/api/slo/rbac-probe', init: { method: 'DELETE', project } }
    case 'usage.read':
      return { path: '/__cfp/api/usage?granularity=hour', init: { project } }
    case 'audit.runtime.retention.write':
      return { path: '/__cfp/api/audit/retention', init: { method: 'PUT', json: { days: 365 }, project } }
    case 'audit.runtime.hold.place':
      return { path: '/__cfp/api/audit/holds', init: { method: 'POST', json: { reason: 'rbac probe' }, project } }
    case 'audit.runtime.hold.release':
      return { path: '/__cfp/api/audit/holds/999999', init: { method: 'DELETE', project } }
    case 'emit':
      return { path: '/__cfp/api/emit', init: { method: 'POST', json: { topic: 'nobody.listens', data: {} }, project } }
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
