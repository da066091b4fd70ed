/**
 * The runtime's own audit chain (docs/audit.md): what was done on this runtime (state writes and deletes, emits,
 * dead-letter replays and discards, worker registrations, settings applied, purges, diagnostic reads, refused
 * requests), each entry's proof checked in the browser. The same view as the control plane's Audit page
 * (pages/audit/AuditLog.tsx) over `/__cfp/api/audit`, so it works under `cfp dev` with no control plane. Reading
 * needs `audit.runtime.read`: the local developer and the admin token read every chain of the runtime; a signed-in
 * user reads their project's entries of their tenant's chain. The operator also sees the runtime's last verification
 * of every chain and its last anchor, and can verify every chain now (`/__cfp/api/audit/status`, `…/verify`).
 */
import { useMemo } from 'react'
import { useApi, useRuntimeScope } from '../app/context'
import type { AuditListItem } from '../lib/control/audit'
import { AuditHealth } from './audit/AuditHealth'
import { type AuditLogProps, type AuditScope, type AuditSource, AuditLog } from './audit/AuditLog'

/** The tenant of a runtime chain (`runtime:<tenant>`), not the system chain. */
function tenantOf(chain: string | undefined): string | undefined {
  return chain?.startsWith('runtime:') && chain !== 'runtime:system' ? chain.slice('runtime:'.length) : undefined
}

export default function AuditPage() {
  const api = useApi()
  const { remote, can } = useRuntimeScope()
  const may = can('audit.runtime.read')
  const source = useMemo<AuditSource>(
    () => ({
      // the runtime filters by chain; its project is the caller's (X-CFP-Project)
      entries: ({ tenant: _t, project: _p, ...rest }) => api.auditEntries(rest),
      entry: (chain, seq) => api.auditEntry(chain, seq),
      checkpoints: (chain, limit) => api.auditCheckpoints(chain, limit),
      keys: () => api.auditKeys(),
    }),
    [api],
  )
  const scopes = useMemo<AuditScope[]>(() => {
    if (!may) return []
    // a signed-in user reads their project's entries only; the operator (local developer, admin token) every chain
    if (remote) return [{ key: 'project', label: 'This project', query: {}, chain: null }]
    return [
      { key: 'runtime', label: 'Whole runtime', query: {}, chain: null },
      { key: 'system', label: 'Runtime system chain', query: { chain: 'runtime:system' }, chain: 'runtime:system' },
    ]
  }, [may, remote])
  const exportCommand: AuditLogProps['exportCommand'] = (scope, from, to, listed) => {
    if (scope === 'system') return undefined
    const tenant = listed.map((i: AuditListItem) => tenantOf(i.chain)).find(Boolean) ?? '<tenant id>'
    return {
      what: `the runtime chain runtime:${tenant}`,
      command: `cfp audit export --database-url "$DATABASE_URL" --tenant ${tenant}${from ? ` --from ${from}` : ''}${to ? ` --to ${to}` : ''} --out audit.cfpaudit`,
    }
  }
  return (
    <AuditLog
      source={source}
      scopes={scopes}
      exportCommand={exportCommand}
      // the runtime's verification and anchoring cover every chain: shown to its operator only
      status={may && !remote ? <AuditHealth load={() => api.auditStatus()} verify={() => api.auditVerify()} deps={[api]} /> : null}
      needs={
        <>
          Reading the runtime's audit chain needs <code>audit.runtime.read</code> on this project (project admins and auditors).
        </>
      }
    />
  )
}
