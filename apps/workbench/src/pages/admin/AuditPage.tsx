/**
 * The audit log (docs/audit.md): entries of the system, a tenant or a project, filtered by time, kind, actor and
 * outcome; each entry with its inclusion proof checked here in the browser against the checkpoint an audit key
 * signed; the chain's last checkpoint; and a download of what the filter finds. Shown to roles with `audit.read`.
 */
import { useCallback, useEffect, useMemo, useState } from 'react'
import { useCan, useControl, useScopes } from '../../app/control'
import { ControlErrorNotice, FormField, Section } from '../../components/admin'
import { JsonView } from '../../components/JsonView'
import { Badge, CopyButton, EmptyState, Loading, PageHeader } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import { ApiError } from '../../lib/api/client'
import { type AuditListItem, type AuditQuery, checkEntryProof, type ProofCheck } from '../../lib/control/audit'
import { formatDateTime } from '../../lib/format'

type ScopeKey = 'system' | 'tenant' | 'project'

interface Filters {
  from: string
  to: string
  kind: string
  actor: string
  outcome: string
}

const EMPTY: Filters = { from: '', to: '', kind: '', actor: '', outcome: '' }
/** The most a download collects (the CLI's `cfp audit export` has no limit and carries proofs). */
const DOWNLOAD_MAX = 10_000

/** A `datetime-local` value (local time) → RFC 3339 UTC, or undefined when empty or invalid. */
function toRfc3339(local: string): string | undefined {
  if (!local) return undefined
  const t = new Date(local)
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString()
}

function outcomeTone(status: string): 'ok' | 'error' | 'warn' {
  return status === 'ok' ? 'ok' : status === 'denied' ? 'warn' : 'error'
}

function actorLabel(e: AuditListItem['entry']): string {
  const a = e.actor
  return a.name ?? a.id ?? a.type
}

function targetLabel(e: AuditListItem['entry']): string {
  return e.target ? `${e.target.type}${e.target.id ? ` ${e.target.id}` : ''}` : '—'
}

function ProofResult({ check }: { check: ProofCheck | undefined }) {
  if (!check) return <p className="small muted">Checking the proof in this browser…</p>
  if (!check.ok)
    return (
      <div className="notice notice--error" role="alert" data-proof="bad">
        <div className="notice__text">
          <strong>The proof does not check out</strong>
          <p>{check.problem}</p>
        </div>
      </div>
    )
  return (
    <p className="notice-inline text-ok" role="status" data-proof="ok">
      Checked in this browser: the entry hashes to its leaf, the inclusion proof leads to the root of the tree of {check.treeSize.toLocaleString('en')} entries
      {check.signedBy
        ? `, and that root is signed by ${check.signedBy.join(', ')}.`
        : check.signatureNote
          ? ` (${check.signatureNote}).`
          : ' (no checkpoint signs it yet).'}
    </p>
  )
}

function EntryDetail({ item, onClose }: { item: AuditListItem; onClose: () => void }) {
  const { cp } = useControl()
  const detail = useResource(() => cp.auditEntry(item.chain, item.seq), [cp, item.chain, item.seq])
  const keys = useResource(() => cp.auditKeys(), [cp])
  const [check, setCheck] = useState<ProofCheck | undefined>(undefined)
  useEffect(() => {
    setCheck(undefined)
    if (!detail.data || !keys.data) return
    let live = true
    void checkEntryProof(detail.data, keys.data.items).then((c) => live && setCheck(c))
    return () => {
      live = false
    }
  }, [detail.data, keys.data])
  return (
    <Section
      title={`${item.entry.kind} · ${item.chain} #${item.seq}`}
      actions={
        <button type="button" className="btn btn--small" onClick={onClose}>
          Close
        </button>
      }
    >
      {detail.error ? <ControlErrorNotice error={detail.error} what="the entry" /> : null}
      {keys.error ? <ControlErrorNotice error={keys.error} what="the audit keys" /> : null}
      {detail.loading && !detail.data ? <Loading /> : null}
      {detail.data ? (
        <div className="stack">
          <ProofResult check={check} />
          <dl className="limits">
            <div className="limits__item">
              <dt>Leaf hash</dt>
              <dd className="mono break">{detail.data.leafHash}</dd>
            </div>
            <div className="limits__item">
              <dt>Root</dt>
              <dd className="mono break">{detail.data.root}</dd>
            </div>
            {detail.data.checkpoint ? (
              <div className="limits__item">
                <dt>Checkpoint</dt>
                <dd>
                  size {detail.data.checkpoint.size.toLocaleString('en')}, {formatDateTime(Date.parse(detail.data.checkpoint.createdAt))}, key{' '}
                  {detail.data.checkpoint.keyName}
                </dd>
              </div>
            ) : null}
          </dl>
          <JsonView value={detail.data.entry} />
        </div>
      ) : null}
    </Section>
  )
}

function ChainStatus({ chain }: { chain: string }) {
  const { cp } = useControl()
  const last = useResource(() => cp.auditCheckpoints(chain, 1), [cp, chain])
  if (last.error) return <ControlErrorNotice error={last.error} what="checkpoints" />
  const c = last.data?.items[0]
  return (
    <p className="small muted" data-chain-status>
      Chain <code>{chain}</code>:{' '}
      {c
        ? `last signed checkpoint at ${c.size.toLocaleString('en')} entries, ${formatDateTime(Date.parse(c.createdAt))} (key ${c.keyName}).`
        : last.loading
          ? 'loading…'
          : 'no signed checkpoint yet.'}{' '}
      Verify the whole chain and its anchors with <code>cfp audit verify</code>.
    </p>
  )
}

/** Anchoring and the control plane's own verification of every chain (system auditors). */
function Health() {
  const { cp } = useControl()
  const status = useResource(() => cp.auditStatus(), [cp])
  const [busy, setBusy] = useState(false)
  if (status.error) return <ControlErrorNotice error={status.error} what="the audit status" />
  const s = status.data
  if (!s) return <Loading />
  const v = s.lastVerification
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
        {s.lastAnchor
          ? `Last anchor ${formatDateTime(Date.parse(s.lastAnchor.createdAt))}: ${s.lastAnchor.checkpoints} checkpoints timestamped by ${s.lastAnchor.tsa}.`
          : s.anchoring
            ? 'No anchor yet.'
            : 'Anchoring is off (--audit-tsa-url, --audit-anchor-dir).'}
      </p>
      <div>
        <button
          type="button"
          className="btn btn--small"
          disabled={busy}
          onClick={async () => {
            setBusy(true)
            try {
              await cp.auditVerify()
            } catch {
              // the status shows the outcome; a refusal (one run at a time) needs nothing more
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

export default function AuditPage() {
  const { cp, selection } = useControl()
  const scopes = useScopes()
  const maySystem = useCan('audit.read', {})
  const mayTenant = useCan('audit.read', scopes.tenant)
  const mayProject = useCan('audit.read', scopes.project)
  const choices = useMemo(() => {
    const out: { key: ScopeKey; label: string }[] = []
    if (maySystem) out.push({ key: 'system', label: 'Whole installation' })
    if (mayTenant && selection.tenant) out.push({ key: 'tenant', label: `Tenant ${selection.tenant.name}` })
    if (mayProject && selection.project) out.push({ key: 'project', label: `Project ${selection.project.name}` })
    return out
  }, [maySystem, mayTenant, mayProject, selection.tenant, selection.project])
  const [scopeKey, setScopeKey] = useState<ScopeKey | undefined>(undefined)
  const scope = choices.find((c) => c.key === scopeKey)?.key ?? choices[choices.length > 1 && choices[0]?.key === 'system' ? 1 : 0]?.key
  const [draft, setDraft] = useState<Filters>(EMPTY)
  const [filters, setFilters] = useState<Filters>(EMPTY)
  const [items, setItems] = useState<AuditListItem[]>([])
  const [next, setNext] = useState<string | null>(null)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const [loading, setLoading] = useState(false)
  const [open, setOpen] = useState<AuditListItem | undefined>(undefined)
  const [download, setDownload] = useState<string | undefined>(undefined)

  const query = useMemo((): AuditQuery => {
    const q: AuditQuery = {
      from: toRfc3339(filters.from),
      to: toRfc3339(filters.to),
      kind: filters.kind.trim() || undefined,
      actor: filters.actor.trim() || undefined,
      outcome: filters.outcome || undefined,
      limit: 50,
    }
    if (scope === 'tenant' && selection.tenant) q.tenant = selection.tenant.id
    if (scope === 'project' && selection.project) q.project = selection.project.id
    return q
  }, [filters, scope, selection.tenant, selection.project])

  const load = useCallback(
    async (cursor: string | null) => {
      setLoading(true)
      setError(undefined)
      try {
        const page = await cp.auditEntries({ ...query, ...(cursor ? { cursor } : {}) })
        setItems((prev) => (cursor ? [...prev, ...page.items] : page.items))
        setNext(page.next)
      } catch (e) {
        setError(e instanceof ApiError ? e : new ApiError(0, 'client_error', String(e), ''))
      } finally {
        setLoading(false)
      }
    },
    [cp, query],
  )

  useEffect(() => {
    if (!scope) return
    setOpen(undefined)
    void load(null)
  }, [scope, load])

  const chain = scope === 'system' ? 'control:system' : selection.tenant ? `control:${selection.tenant.id}` : undefined

  async function downloadAll() {
    const out: string[] = []
    let cursor: string | null = null
    setDownload('0 entries…')
    try {
      do {
        const page: { items: AuditListItem[]; next: string | null } = await cp.auditEntries({ ...query, limit: 500, ...(cursor ? { cursor } : {}) })
        for (const i of page.items) out.push(JSON.stringify(i))
        cursor = page.next
        setDownload(`${out.length.toLocaleString('en')} entries…`)
      } while (cursor && out.length < DOWNLOAD_MAX)
      const blob = new Blob([`${out.join('\n')}\n`], { type: 'application/x-ndjson' })
      const a = document.createElement('a')
      a.href = URL.createObjectURL(blob)
      a.download = `audit-${scope}-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.jsonl`
      a.click()
      URL.revokeObjectURL(a.href)
      setDownload(
        `${out.length.toLocaleString('en')} entries downloaded${cursor ? ` (the first ${DOWNLOAD_MAX.toLocaleString('en')}; use cfp audit export for all)` : ''}.`,
      )
    } catch (e) {
      setDownload(`Download failed: ${e instanceof Error ? e.message : String(e)}`)
    }
  }

  if (!choices.length) {
    return (
      <div className="page">
        <PageHeader title="Audit log" />
        <EmptyState title="The audit log is not visible to you">
          Reading it needs <code>audit.read</code> (system, tenant, team or project admins and auditors). Choose a tenant or project in the switcher if you hold
          it there.
        </EmptyState>
      </div>
    )
  }

  const exportCommand = `cfp audit export --database-url "$CONTROL_DATABASE_URL" --tenant ${selection.tenant?.id ?? '<tenant id>'}${
    filters.from ? ` --from ${toRfc3339(filters.from)}` : ''
  }${filters.to ? ` --to ${toRfc3339(filters.to)}` : ''} --out audit.cfpaudit`

  return (
    <div className="page">
      <PageHeader title="Audit log" description="Every change, sign-in and refusal, hash-chained and signed; each entry's proof is checked in your browser." />
      <Section title="Filter">
        <form
          className="admin-form"
          onSubmit={(e) => {
            e.preventDefault()
            setFilters(draft)
          }}
        >
          <div className="admin-form__row">
            <FormField label="Scope" htmlFor="audit-scope">
              <select id="audit-scope" className="select" value={scope} onChange={(e) => setScopeKey(e.target.value as ScopeKey)}>
                {choices.map((c) => (
                  <option key={c.key} value={c.key}>
                    {c.label}
                  </option>
                ))}
              </select>
            </FormField>
            <FormField label="From" htmlFor="audit-from">
              <input
                id="audit-from"
                className="input"
                type="datetime-local"
                value={draft.from}
                onChange={(e) => setDraft({ ...draft, from: e.target.value })}
              />
            </FormField>
            <FormField label="To" htmlFor="audit-to">
              <input id="audit-to" className="input" type="datetime-local" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
            </FormField>
            <FormField label="Kind" htmlFor="audit-kind" hint="e.g. project.create or auth.*">
              <input id="audit-kind" className="input input--mono" value={draft.kind} onChange={(e) => setDraft({ ...draft, kind: e.target.value })} />
            </FormField>
            <FormField label="Actor id" htmlFor="audit-actor">
              <input id="audit-actor" className="input input--mono" value={draft.actor} onChange={(e) => setDraft({ ...draft, actor: e.target.value })} />
            </FormField>
            <FormField label="Outcome" htmlFor="audit-outcome">
              <select id="audit-outcome" className="select" value={draft.outcome} onChange={(e) => setDraft({ ...draft, outcome: e.target.value })}>
                <option value="">any</option>
                <option value="ok">ok</option>
                <option value="denied">denied</option>
                <option value="error">error</option>
              </select>
            </FormField>
          </div>
          <div className="admin-form__actions">
            <button type="submit" className="btn btn--primary" disabled={loading}>
              Search
            </button>
            <button
              type="button"
              className="btn"
              onClick={() => {
                setDraft(EMPTY)
                setFilters(EMPTY)
              }}
            >
              Clear
            </button>
          </div>
        </form>
        {chain ? <ChainStatus chain={chain} /> : null}
        {maySystem ? <Health /> : null}
      </Section>
      {open ? <EntryDetail item={open} onClose={() => setOpen(undefined)} /> : null}
      <Section
        title="Entries"
        actions={
          <button type="button" className="btn btn--small" onClick={() => void downloadAll()} disabled={!items.length}>
            Download
          </button>
        }
      >
        {download ? (
          <p className="small muted" role="status">
            {download}
          </p>
        ) : null}
        {error ? <ControlErrorNotice error={error} what="audit entries" /> : null}
        {loading && !items.length ? <Loading /> : null}
        {!loading && !error && !items.length ? <EmptyState title="No entries match" /> : null}
        {items.length ? (
          <div className="table-scroll">
            <table className="table table--cards table--clickable" aria-label="Audit entries">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Kind</th>
                  <th>Actor</th>
                  <th>Target</th>
                  <th>Outcome</th>
                </tr>
              </thead>
              <tbody>
                {items.map((i) => (
                  <tr key={`${i.chain}/${i.seq}`} aria-current={open?.chain === i.chain && open.seq === i.seq ? 'true' : undefined}>
                    <th data-label="Time">
                      <button type="button" className="link-button" onClick={() => setOpen(i)}>
                        {formatDateTime(Date.parse(i.entry.time))}
                      </button>
                    </th>
                    <td data-label="Kind" className="mono">
                      {i.entry.kind}
                    </td>
                    <td data-label="Actor" className="break">
                      {actorLabel(i.entry)}
                      {i.entry.actor.auth ? <span className="small muted"> · {i.entry.actor.auth}</span> : null}
                    </td>
                    <td data-label="Target" className="break">
                      {targetLabel(i.entry)}
                    </td>
                    <td data-label="Outcome">
                      <Badge tone={outcomeTone(i.entry.outcome.status)}>
                        {i.entry.outcome.status}
                        {i.entry.outcome.code ? ` ${i.entry.outcome.code}` : ''}
                      </Badge>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        {next ? (
          <div className="admin-form__actions">
            <button type="button" className="btn" onClick={() => void load(next)} disabled={loading}>
              {loading ? 'Loading…' : 'Load more'}
            </button>
          </div>
        ) : null}
      </Section>
      {selection.tenant && scope !== 'system' ? (
        <Section title="Export with proofs">
          <p className="small muted">
            For an auditor: a bundle of {selection.tenant.name}'s chain with checkpoints, proofs and keys, checked offline by{' '}
            <code>npx cfp-audit-verify FILE</code>.
          </p>
          <pre className="code-block break">{exportCommand}</pre>
          <CopyButton text={exportCommand} label="Copy command" />
        </Section>
      ) : null}
    </div>
  )
}
