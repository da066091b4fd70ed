import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { renderPermissionsDoc } from './doc.js'
import { can, canGrant, relation } from './evaluate.js'
import { checkPolicy, findPolicyFile, loadPolicy } from './load.js'
import type { Policy, Principal } from './types.js'

const policy = loadPolicy()
const T1 = { tenant: 't1' }
const A = { tenant: 't1', team: 'a' }
const A1 = { tenant: 't1', team: 'a', project: 'a1' }
const A2 = { tenant: 't1', team: 'a', project: 'a2' }
const C1 = { tenant: 't2', team: 'c', project: 'c1' }
const user = (role: string, scope: object, tenantId?: string): Principal => ({
  kind: 'user',
  id: 'u',
  bindings: [{ role, scope }],
  ...(tenantId ? { tenantId } : {}),
})

describe('the matrix file', () => {
  it('matches its schema and is internally consistent', () => {
    expect(checkPolicy(policy)).toEqual([])
    expect(Object.keys(policy.roles).sort()).toEqual([
      'auditor',
      'project_admin',
      'project_editor',
      'project_viewer',
      'support',
      'system_admin',
      'team_admin',
      'team_viewer',
      'tenant_admin',
      'tenant_viewer',
    ])
  })

  it('reports grants that name unknown actions or impossible relations', () => {
    const broken = structuredClone(policy) as Policy
    broken.grants.project_viewer!['nope.read'] = ['self']
    broken.grants.project_viewer!['tenant.update'] = ['ancestor']
    const problems = checkPolicy(broken)
    expect(problems.join('\n')).toMatch(/nope\.read: unknown action/)
    expect(problems.join('\n')).toMatch(/tenant\.update: relation ancestor cannot occur/)
  })

  it('keeps its promises: viewers and auditors change nothing, no role connects workers, upward access only reads', () => {
    const mutating = (a: string) => !/\.read$/.test(a)
    // support diagnoses read-only: no dev/diagnostic operation (emit, state edit, dead-letter replay) either
    for (const role of ['tenant_viewer', 'team_viewer', 'project_viewer', 'support']) {
      expect(Object.keys(policy.grants[role]!).filter(mutating), role).toEqual([])
    }
    // the auditor changes only how long the audit evidence is kept
    const keeping = /^audit\.(runtime\.)?(retention\.write|hold\.place|hold\.release)$/
    expect(
      Object.keys(policy.grants.auditor!)
        .filter(mutating)
        .filter((a) => !keeping.test(a)),
    ).toEqual([])
    // the audited party never controls destruction of its evidence: no binding at the tenant itself (or below) sets
    // retention or releases a hold; only the platform's bindings (system admin, system auditor) do
    for (const action of ['audit.retention.write', 'audit.hold.release', 'audit.runtime.retention.write', 'audit.runtime.hold.release']) {
      expect(policy.actions[action]!.targets, action).toEqual(['tenant'])
      for (const [role, grants] of Object.entries(policy.grants)) {
        if (grants[action]) expect([role, grants[action]], action).toEqual([role, ['ancestor']])
        if (grants[action]) expect(policy.roles[role]!.bindableAt, action).toContain('system')
      }
    }
    for (const [role, grants] of Object.entries(policy.grants)) {
      expect(grants['worker.connect'], role).toBeUndefined()
      for (const [action, rels] of Object.entries(grants)) if (rels.includes('descendant')) expect(action, role).toMatch(/\.read$/)
    }
    expect(policy.grants.auditor!['state.read']).toBeUndefined()
    expect(
      Object.entries(policy.grants)
        .filter(([, g]) => g['tenant.create'])
        .map(([r]) => r),
    ).toEqual(['system_admin'])
  })

  it('docs/permissions.md is generated from the current file', () => {
    const doc = join(dirname(dirname(findPolicyFile())), 'docs', 'permissions.md')
    expect(readFileSync(doc, 'utf8'), 'run `npm run docs:permissions -w packages/control-plane`').toBe(renderPermissionsDoc(policy))
  })
})

describe('relation', () => {
  it('walks the hierarchy', () => {
    expect(relation(A1, A1)).toBe('self')
    expect(relation({}, A1)).toBe('ancestor')
    expect(relation(T1, A1)).toBe('ancestor')
    expect(relation(A1, T1)).toBe('descendant')
    expect(relation(A1, {})).toBe('descendant')
    expect(relation(A1, A2)).toBeNull()
    expect(relation(A, C1)).toBeNull()
    expect(relation(T1, { tenant: 't2' })).toBeNull()
  })
})

describe('can', () => {
  it('grants by role and relation', () => {
    expect(can(policy, user('project_viewer', A1), 'logs.read', A1)).toBe(true)
    expect(can(policy, user('project_viewer', A1), 'state.write', A1)).toBe(false)
    expect(can(policy, user('project_viewer', A1), 'logs.read', A2)).toBe(false)
    expect(can(policy, user('project_viewer', A1), 'tenant.read', T1)).toBe(true)
    expect(can(policy, user('team_admin', A), 'project.update', A1)).toBe(true)
    expect(can(policy, user('team_admin', A), 'team.create', T1)).toBe(false)
    expect(can(policy, user('system_admin', {}), 'state.write', C1)).toBe(true)
  })

  it('refuses actions on kinds they do not target, and unknown actions', () => {
    expect(can(policy, user('system_admin', {}), 'tenant.read', A1)).toBe(false)
    expect(can(policy, user('system_admin', {}), 'made.up', {})).toBe(false)
  })

  it('confines a tenant token to its tenant, even for system bindings', () => {
    expect(can(policy, user('system_admin', {}, 't1'), 'project.read', C1)).toBe(false)
    expect(can(policy, user('system_admin', {}, 't1'), 'project.read', A1)).toBe(true)
  })

  it('narrows API keys to their action list and worker tokens to worker.connect on their project', () => {
    const key: Principal = { kind: 'api_key', id: 'k', tenantId: 't1', bindings: [{ role: 'project_editor', scope: A1 }], actions: ['step.invoke'] }
    expect(can(policy, key, 'step.invoke', A1)).toBe(true)
    expect(can(policy, key, 'emit', A1)).toBe(false)
    const worker: Principal = { kind: 'worker', id: 'w', tenantId: 't1', bindings: [{ role: 'worker', scope: A1 }] }
    expect(can(policy, worker, 'worker.connect', A1)).toBe(true)
    expect(can(policy, worker, 'worker.connect', A2)).toBe(false)
    expect(can(policy, worker, 'logs.read', A1)).toBe(false)
  })
})

describe('canGrant', () => {
  it('follows mayGrant on or above the scope', () => {
    expect(canGrant(policy, user('tenant_admin', T1), 'project_viewer', A1)).toBe(true)
    expect(canGrant(policy, user('tenant_admin', T1), 'system_admin', {})).toBe(false)
    expect(canGrant(policy, user('project_admin', A1), 'project_editor', A1)).toBe(true)
    expect(canGrant(policy, user('project_admin', A1), 'team_admin', A)).toBe(false)
    expect(canGrant(policy, user('project_admin', A1), 'project_editor', A2)).toBe(false)
    expect(canGrant(policy, user('team_admin', A), 'tenant_viewer', T1)).toBe(false)
    expect(canGrant(policy, user('tenant_admin', T1), 'project_viewer', C1)).toBe(false)
  })

  it('refuses roles at scopes where they cannot be bound', () => {
    expect(canGrant(policy, user('system_admin', {}), 'project_viewer', T1)).toBe(false)
    expect(canGrant(policy, user('system_admin', {}), 'auditor', T1)).toBe(true)
  })
})
