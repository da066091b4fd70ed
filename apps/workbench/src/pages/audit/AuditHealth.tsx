/**
 * The health of a plane's audit chains (docs/audit.md): its last verification of every chain, its last anchor, and
 * a button that verifies every chain now. Shown on the control plane's Audit page to system auditors
 * (`GET /v1/audit/status`) and on the runtime's to its operator (`GET /__cfp/api/audit/status`); both answer the
 * same shape.
 */
import { type DependencyList, useState } from 'react'
import { ControlErrorNotice } from '../../components/admin'
import { Loading } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import { ApiError } from '../../lib/api/client'
import { formatDateTime } from '../../lib/format'
import type { AuditStatus } from '../../lib/control/audit'

export interface AuditHealthProps {
  load: () => Promise<AuditStatus>
  verify: () => Promise<unknown>
  /** What `load` and `verify` depend on. */
  deps: DependencyList
}

export function AuditHealth({ load, verify, deps }: AuditHealthProps) {
  const status = useResource(load, deps)
  const [busy, setBusy] = useState(false)
  const [refused, setRefused] = useState<ApiError | undefined>(undefined)
  if (status.error) return <ControlErrorNotice error={status.error} what="the audit status" />
  const s = status.data
  if (!s) return <Loading />
  const v = s.lastVerification
  const a = s.lastAnchor
  return (
    <div className="stack" data-audit-health>
      <p className="small">
        {v ? (
          v.ok ? (
            <span className="text-ok">
              Last verification {formatDateTime(Date.parse(v.createdAt))}: {v.chains} chains, {v.entries.toLocaleString('en')} entries intact.
            </span>
          ) : (
            <span className="text-error" role="alert">
              Last verification {formatDateTime(Date.parse(v.createdAt))} FAILED: chain {v.chain}, seq {v.seq}, {v.finding} — {v.detail}
            </span>
          )
        ) : (
          'Not verified yet.'
        )}{' '}
        {a
          ? `Last anchor ${formatDateTime(Date.parse(a.createdAt))}: ${a.checkpoints} checkpoints timestamped${a.tsa ? ` by ${a.tsa}` : ''}.`
          : s.anchoring
            ? 'No anchor yet.'
            : 'Anchoring is off (--audit-tsa-url, --audit-anchor-dir).'}
      </p>
      {refused ? <ControlErrorNotice error={refused} what="the verification" /> : null}
      <div>
        <button
          type="button"
          className="btn btn--small"
          disabled={busy}
          onClick={async () => {
            setBusy(true)
            setRefused(undefined)
            try {
              await verify()
            } catch (e) {
              setRefused(e instanceof ApiError ? e : new ApiError(0, 'client_error', String(e), ''))
            } finally {
              setBusy(false)
              await status.reload()
            }
          }}
        >
          {busy ? 'Verifying…' : 'Verify all chains now'}
        </button>
      </div>
    </div>
  )
}
