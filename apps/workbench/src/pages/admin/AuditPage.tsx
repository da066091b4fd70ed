/**
 * The control plane's audit log (docs/audit.md): the system chain, a tenant's or a project's entries, with the
 * anchoring and verification status for system auditors. The view is the shared one (pages/audit/AuditLog.tsx);
 * shown to roles with `audit.read`.
 */
import { useMemo } from 'react'
import { useCan, useControl, useScopes } from '../../app/control'
import { AuditHealth } from '../audit/AuditHealth'
import { type AuditLogProps, type AuditScope, type AuditSource, AuditLog } from '../audit/AuditLog'

export default function AuditPage() {
  const { cp, selection } = useControl()
  const scopes = useScopes()
  const maySystem = useCan('audit.read', {})
  const mayTenant = useCan('audit.read', scopes.tenant)
  const mayProject = useCan('audit.read', scopes.project)
  const { tenant, project } = selection
  const choices = useMemo(() => {
    const out: AuditScope[] = []
    if (maySystem) out.push({ key: 'system', label: 'Whole installation', query: {}, chain: 'control:system' })
    if (mayTenant && tenant) out.push({ key: 'tenant', label: `Tenant ${tenant.name}`, query: { tenant: tenant.id }, chain: `control:${tenant.id}` })
    if (mayProject && project)
      out.push({ key: 'project', label: `Project ${project.name}`, query: { project: project.id }, ...(tenant ? { chain: `control:${tenant.id}` } : {}) })
    return out
  }, [maySystem, mayTenant, mayProject, tenant, project])
  const source = useMemo<AuditSource>(
    () => ({
      entries: (q) => cp.auditEntries(q),
      entry: (chain, seq) => cp.auditEntry(chain, seq),
      checkpoints: (chain, limit) => cp.auditCheckpoints(chain ?? '', limit),
      keys: () => cp.auditKeys(),
    }),
    [cp],
  )
  const exportCommand: AuditLogProps['exportCommand'] = (scope, from, to) =>
    tenant && scope !== 'system'
      ? {
          what: `${tenant.name}'s chain`,
          command: `cfp audit export --database-url "$CONTROL_DATABASE_URL" --tenant ${tenant.id}${from ? ` --from ${from}` : ''}${to ? ` --to ${to}` : ''} --out audit.cfpaudit`,
        }
      : undefined
  return (
    <AuditLog
      source={source}
      scopes={choices}
      initialScope={choices.length > 1 && choices[0]?.key === 'system' ? choices[1]?.key : undefined}
      exportCommand={exportCommand}
      status={maySystem ? <AuditHealth load={() => cp.auditStatus()} verify={() => cp.auditVerify()} deps={[cp]} /> : null}
      needs={
        <>
          Reading it needs <code>audit.read</code> (system, tenant, team or project admins and auditors). Choose a tenant or project in the switcher if you hold
          it there.
        </>
      }
    />
  )
}
