import { describe, expect, it } from 'vitest'
import { can, grantableRoles, POLICY, relation, runtimeCan, scopeRef } from './permissions'
import type { Me } from './types'

const T = 'tenant-1'
const A = 'team-a'
const P1 = 'project-1'
const P2 = 'project-2'
const user = (bindings: Me['bindings'], tenantId?: string): Me => ({ kind: 'user', id: 'u', bindings, ...(tenantId ? { tenantId } : {}) })

const admin = user([{ role: 'system_admin', scope: {} }])
const viewer = user([{ role: 'project_viewer', scope: { tenant: T, team: A, project: P1 } }], T)
const projectAdmin = user([{ role: 'project_admin', scope: { tenant: T, team: A, project: P1 } }], T)
const p1 = { tenant: T, team: A, project: P1 }

describe('permission gating', () => {
  it('relates scopes like the control plane', () => {
    expect(relation({}, p1)).toBe('ancestor')
    expect(relation(p1, { tenant: T })).toBe('descendant')
    expect(relation(p1, p1)).toBe('self')
    expect(relation(p1, { tenant: T, team: A, project: P2 })).toBeNull()
  })

  it('a project viewer reads its project but may change nothing', () => {
    expect(can(POLICY, viewer, 'project.read', p1)).toBe(true)
    for (const action of [
      'project.update',
      'rolebinding.create',
      'apikey.create',
      'workertoken.create',
      'limits.update',
      'cors.update',
      'validation.update',
      'diagnostics.update',
    ]) {
      expect(can(POLICY, viewer, action, p1), action).toBe(false)
    }
    expect(can(POLICY, viewer, 'member.invite', { tenant: T })).toBe(false)
    expect(can(POLICY, viewer, 'project.read', { tenant: T, team: A, project: P2 })).toBe(false)
    expect(grantableRoles(POLICY, viewer, p1)).toEqual([])
  })

  it('a system admin may do everything and grant every role bindable at the scope', () => {
    expect(can(POLICY, admin, 'tenant.create', {})).toBe(true)
    expect(can(POLICY, admin, 'cors.update', p1)).toBe(true)
    expect(grantableRoles(POLICY, admin, p1)).toEqual(['project_admin', 'project_editor', 'project_viewer'])
    expect(grantableRoles(POLICY, admin, { tenant: T })).toEqual(['tenant_admin', 'tenant_viewer', 'auditor', 'support'])
  })

  it('mayGrant limits what a project admin offers, and a token confined to a tenant reaches nothing outside it', () => {
    expect(grantableRoles(POLICY, projectAdmin, p1)).toEqual(['project_admin', 'project_editor', 'project_viewer'])
    expect(grantableRoles(POLICY, projectAdmin, { tenant: T, team: A })).toEqual([])
    expect(can(POLICY, projectAdmin, 'limits.update', { tenant: T })).toBe(false)
    const confinedAdmin = user([{ role: 'system_admin', scope: {} }], T)
    expect(can(POLICY, confinedAdmin, 'project.read', { tenant: 'other', team: 'x', project: 'y' })).toBe(false)
    expect(can(POLICY, undefined, 'project.read', p1)).toBe(false)
  })

  it('rename and delete controls: deleting is a decision of the level above (never of the object’s own admin)', () => {
    const tenant = { tenant: T }
    const team = { tenant: T, team: A }
    const tenantAdmin = user([{ role: 'tenant_admin', scope: tenant }], T)
    const teamAdmin = user([{ role: 'team_admin', scope: team }], T)
    const d = (who: Me | undefined, action: string, target: typeof p1 | typeof team | typeof tenant) => can(POLICY, who, action, target)
    expect([d(admin, 'tenant.delete', tenant), d(admin, 'team.delete', team), d(admin, 'project.delete', p1)]).toEqual([true, true, true])
    expect([d(tenantAdmin, 'tenant.update', tenant), d(tenantAdmin, 'tenant.delete', tenant)]).toEqual([true, false])
    expect([d(tenantAdmin, 'team.delete', team), d(tenantAdmin, 'project.delete', p1)]).toEqual([true, true])
    expect([d(teamAdmin, 'team.update', team), d(teamAdmin, 'team.delete', team), d(teamAdmin, 'project.delete', p1)]).toEqual([true, false, true])
    expect([d(projectAdmin, 'project.update', p1), d(projectAdmin, 'project.delete', p1)]).toEqual([true, false])
    for (const action of ['tenant.update', 'tenant.delete', 'team.update', 'team.delete', 'project.update', 'project.delete']) {
      const target = action.startsWith('tenant') ? tenant : action.startsWith('team') ? team : p1
      expect(d(viewer, action, target), action).toBe(false)
      expect(d(user([{ role: 'tenant_viewer', scope: tenant }], T), action, target), action).toBe(false)
    }
  })

  it('an API key narrowed to actions gets only those', () => {
    const key: Me = { kind: 'api_key', id: 'k', bindings: [{ role: 'project_admin', scope: p1 }], actions: ['project.read'] }
    expect(can(POLICY, key, 'project.read', p1)).toBe(true)
    expect(can(POLICY, key, 'project.update', p1)).toBe(false)
    expect(grantableRoles(POLICY, key, p1)).toEqual([])
  })

  it('builds API scope references', () => {
    expect(scopeRef({})).toEqual({ kind: 'system' })
    expect(scopeRef(p1)).toEqual({ kind: 'project', id: P1 })
    expect(scopeRef({ tenant: T, team: A })).toEqual({ kind: 'team', id: A })
  })

  it('runtime pages: a viewer reads logs, flows and dead letters but may not invoke, emit, replay or edit state', () => {
    const v = runtimeCan(POLICY, viewer, p1)
    for (const action of ['flow.read', 'logs.read', 'traces.read', 'state.read', 'dlq.read']) expect(v(action), action).toBe(true)
    for (const action of ['step.invoke', 'emit', 'dlq.replay', 'state.write', 'layout.write']) expect(v(action), action).toBe(false)
    expect(runtimeCan(POLICY, viewer, { tenant: T, team: A, project: P2 })('logs.read')).toBe(false)
    const a = runtimeCan(POLICY, admin, p1)
    for (const action of ['step.invoke', 'emit', 'dlq.replay', 'state.write']) expect(a(action), action).toBe(true)
    // control-plane actions and the layout file are not runtime actions of a signed-in user
    expect(a('project.update')).toBe(false)
    expect(a('layout.write')).toBe(false)
  })
})
