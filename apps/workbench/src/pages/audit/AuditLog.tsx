/**
 * The audit log (docs/audit.md), one view for both planes: entries filtered by time, kind, actor and outcome; each
 * entry with its inclusion proof checked here in the browser against the checkpoint an audit key signed; the
 * chain's last checkpoint; a download of what the filter finds; and the export command. Where the entries come from
 * is an {@link AuditSource}: the control plane's `/v1/audit` (pages/admin/AuditPage.tsx) or the runtime's
 * `/__cfp/api/audit` (pages/AuditPage.tsx), which answer in the same shapes.
 */
import { type ReactNode, useCallback, useEffect, useMemo, useState } from 'react'
import { ControlErrorNotice, FormField, Section } from '../../components/admin'
import { JsonView } from '../../components/JsonView'
import { Badge, CopyButton, EmptyState, Loading, PageHeader } from '../../components/ui'
import { useResource } from '../../hooks/useResource'
import { ApiError } from '../../lib/api/client'
import {
  type AuditCheckpoint,
  type AuditEntryDetail,
  type AuditKey,
  type AuditListItem,
  type AuditQuery,
  checkEntryProof,
  type ProofCheck,
} from '../../lib/control/audit'
import { formatDateTime } from '../../lib/format'

/** Where a plane's audit API is (both answer `{items, next}` pages and the same entry, checkpoint and key shapes). */
export interface AuditSource {
  entries(q: AuditQuery): Promise<{ items: AuditListItem[]; next: string | null }>
  entry(chain: string, seq: number): Promise<AuditEntryDetail>
  /** The newest checkpoints of `chain` (the caller's own chain when undefined). */
  checkpoints(chain: string | undefined, limit: number): Promise<{ items: AuditCheckpoint[] }>
  keys(): Promise<{ items: AuditKey[] }>
}

/** A choice of the Scope filter: what it adds to the query and the chain whose status is shown. */
export interface AuditScope {
  key: string
  label: string
  query: Pick<AuditQuery, 'tenant' | 'project' | 'chain'>
  /** The chain whose last checkpoint is shown; null: the caller's own (the runtime decides), undefined: none. */
  chain?: string | null
}

export interface AuditLogProps {
  source: AuditSource
  /** Filter scopes the caller may read; empty: the page says the log is not visible. */
  scopes: AuditScope[]
  /** The scope selected first (default the first). */
  initialScope?: string
  /** The `cfp audit export …` command for a scope, time window and the entries listed, or undefined when there is none. */
  exportCommand?: (scope: string, from: string | undefined, to: string | undefined, listed: AuditListItem[]) => { command: string; what: string } | undefined
  /** Shown under the filter (the control plane's anchoring and verification status). */
  status?: ReactNode
  /** What reading needs, said when no scope is readable. */
  needs: ReactNode
}

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

function EntryDetail({ source, item, onClose }: { source: AuditSource; item: AuditListItem; onClose: () => void }) {
  const detail = useResource(() => source.entry(item.chain, item.seq), [source, item.chain, item.seq])
  const keys = useResource(() => source.keys(), [source])
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

function ChainStatus({ source, chain }: { source: AuditSource; chain: string | undefined }) {
  const last = useResource(() => source.checkpoints(chain, 1), [source, chain])
  if (last.error) return <ControlErrorNotice error={last.error} what="checkpoints" />
  const c = last.data?.items[0]
  const name = chain ?? c?.chain
  return (
    <p className="small muted" data-chain-status>
      {name ? (
        <>
          Chain <code>{name}</code>:{' '}
        </>
      ) : (
        "The project's chain: "
      )}
      {c
        ? `last signed checkpoint at ${c.size.toLocaleString('en')} entries, ${formatDateTime(Date.parse(c.createdAt))} (key ${c.keyName}).`
        : last.loading
          ? 'loading…'
          : 'no signed checkpoint yet.'}{' '}
      Verify the whole chain and its anchors with <code>cfp audit verify</code>.
    </p>
  )
}

export function AuditLog({ source, scopes: choices, initialScope, exportCommand, status, needs }: AuditLogProps) {
  const [scopeKey, setScopeKey] = useState<string | undefined>(undefined)
  const chosen = choices.find((c) => c.key === scopeKey) ?? choices.find((c) => c.key === initialScope) ?? choices[0]
  const scope = chosen?.key
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
    return { ...q, ...chosen?.query }
  }, [filters, chosen])

  /** Searches so far: a new search also refreshes the chain's status. */
  const [searches, setSearches] = useState(0)
  const load = useCallback(
    async (cursor: string | null) => {
      setLoading(true)
      setError(undefined)
      if (!cursor) setSearches((n) => n + 1)
      try {
        const page = await source.entries({ ...query, ...(cursor ? { cursor } : {}) })
        setItems((prev) => (cursor ? [...prev, ...page.items] : page.items))
        setNext(page.next)
      } catch (e) {
        setError(e instanceof ApiError ? e : new ApiError(0, 'client_error', String(e), ''))
      } finally {
        setLoading(false)
      }
    },
    [source, query],
  )

  useEffect(() => {
    if (!scope) return
    setOpen(undefined)
    void load(null)
  }, [scope, load])

  const chain = chosen?.chain

  async function downloadAll() {
    const out: string[] = []
    let cursor: string | null = null
    setDownload('0 entries…')
    try {
      do {
        const page: { items: AuditListItem[]; next: string | null } = await source.entries({ ...query, limit: 500, ...(cursor ? { cursor } : {}) })
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
        <EmptyState title="The audit log is not visible to you">{needs}</EmptyState>
      </div>
    )
  }

  const exported = scope ? exportCommand?.(scope, toRfc3339(filters.from), toRfc3339(filters.to), items) : undefined

  return (
    <div className="page">
      <PageHeader title="Audit log" description="Every change, sign-in and refusal, hash-chained and signed; each entry's proof is checked in your browser." />
      <Section title="Filter">
        <form
          className="admin-form"
          onSubmit={(e) => {
            e.preventDefault()
            // a fresh object, so that searching again with the same filters reloads (new entries, new checkpoint)
            setFilters({ ...draft })
          }}
        >
          <div className="admin-form__row">
            <FormField label="Scope" htmlFor="audit-scope">
              <select id="audit-scope" className="select" value={scope} onChange={(e) => setScopeKey(e.target.value)}>
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
        {chain !== undefined ? <ChainStatus key={searches} source={source} chain={chain ?? undefined} /> : null}
        {status}
      </Section>
      {open ? <EntryDetail source={source} item={open} onClose={() => setOpen(undefined)} /> : null}
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
      {exported ? (
        <Section title="Export with proofs">
          <p className="small muted">
            For an auditor: a bundle of {exported.what} with checkpoints, proofs and keys, checked offline by <code>npx cfp-audit-verify FILE</code>.
          </p>
          <pre className="code-block break">{exported.command}</pre>
          <CopyButton text={exported.command} label="Copy command" />
        </Section>
      ) : null}
    </div>
  )
}
