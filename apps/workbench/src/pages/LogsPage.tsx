/**
 * Logs: the latest lines (GET /logs), then a live tail from the `log` events of GET /live (polling with
 * `after` while the live connection is down), filtered by level, step, trace and text. Newest first.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { useSearchParams } from 'react-router'
import { useApi, useHub, useLiveStatus, useSteps } from '../app/context'
import { ErrorNotice } from '../components/ErrorNotice'
import { PauseIcon, PlayIcon } from '../components/Icons'
import { LogRow } from '../components/LogRow'
import { EmptyState, Loading, PageHeader } from '../components/ui'
import { ApiError } from '../lib/api/client'
import type { LogLine } from '../lib/api/types'
import { activeFilterCount, filterLogs, filtersFromSearch, filtersToSearch, lastLogId, LOG_LEVELS, type LogFilters, logKey, mergeLogs } from '../lib/logs'

const RENDER_LIMIT = 1000

export default function LogsPage() {
  const api = useApi()
  const hub = useHub()
  const liveStatus = useLiveStatus()
  const steps = useSteps()
  const [search, setSearch] = useSearchParams()
  const filters = useMemo(() => filtersFromSearch(search), [search])
  const [lines, setLines] = useState<LogLine[]>([])
  const [loaded, setLoaded] = useState(false)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const [paused, setPaused] = useState(false)
  const pending = useRef<LogLine[]>([])
  const pausedRef = useRef(paused)
  pausedRef.current = paused

  const setFilters = (patch: Partial<LogFilters>) => setSearch(filtersToSearch({ ...filters, ...patch }), { replace: true })

  const load = useCallback(async () => {
    try {
      const first = await api.logs({ limit: 1000 })
      let all = first.logs
      // a trace filter from a link: make sure that trace's lines are there even if they are older
      if (filters.traceId) all = mergeLogs(all, (await api.logs({ traceId: filters.traceId, limit: 1000 })).logs, 5000)
      setLines((prev) => mergeLogs(prev, all, 5000))
      setError(undefined)
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'client_error', String(e), '/logs'))
    } finally {
      setLoaded(true)
    }
  }, [api, filters.traceId])

  useEffect(() => {
    void load()
  }, [load])

  // live lines arrive in bursts: batch them into one render per 200 ms
  useEffect(() => {
    const off = hub.on('log', (line) => {
      pending.current.push(line)
    })
    const timer = setInterval(() => {
      if (pausedRef.current || pending.current.length === 0) return
      const batch = pending.current
      pending.current = []
      setLines((prev) => mergeLogs(prev, batch, 5000))
    }, 200)
    return () => {
      off()
      clearInterval(timer)
    }
  }, [hub])

  // without the live stream (or after it dropped events): poll for newer lines
  const linesRef = useRef(lines)
  linesRef.current = lines
  useEffect(
    () =>
      hub.on('lagged', () => {
        const after = lastLogId(linesRef.current)
        void api.logs(after !== undefined ? { after, limit: 1000 } : { limit: 1000 }).then(
          (r) => setLines((prev) => mergeLogs(prev, r.logs, 5000)),
          () => undefined,
        )
      }),
    [api, hub],
  )
  useEffect(() => {
    if (liveStatus === 'open' || paused) return
    const timer = setInterval(() => {
      const after = lastLogId(linesRef.current)
      void api.logs(after !== undefined ? { after, limit: 500 } : { limit: 500 }).then(
        (r) => setLines((prev) => mergeLogs(prev, r.logs, 5000)),
        () => undefined,
      )
    }, 2000)
    return () => clearInterval(timer)
  }, [api, liveStatus, paused])

  const shown = useMemo(() => filterLogs(lines, filters).reverse(), [lines, filters])
  const stepNames = useMemo(() => {
    const names = new Set((steps.data?.steps ?? []).map((s) => s.name))
    for (const l of lines) if (l.step) names.add(l.step)
    return [...names].sort()
  }, [steps.data, lines])
  const active = activeFilterCount(filters)

  return (
    <div className="page">
      <PageHeader
        title="Logs"
        description={
          <>
            {lines.length.toLocaleString()} lines{active ? `, ${shown.length.toLocaleString()} match` : ''} ·{' '}
            {paused ? 'paused' : liveStatus === 'open' ? 'live' : 'polling every 2 s'}
          </>
        }
        actions={
          <button type="button" className="btn" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
            {paused ? <PlayIcon size={15} /> : <PauseIcon size={15} />}
            <span>{paused ? 'Resume' : 'Pause'}</span>
          </button>
        }
      />
      <form className="toolbar card" role="search" onSubmit={(e) => e.preventDefault()} aria-label="Filter logs">
        <label className="stack">
          <span className="label">Level</span>
          <select className="select" value={filters.level} onChange={(e) => setFilters({ level: e.target.value as LogFilters['level'] })}>
            <option value="">All levels</option>
            {LOG_LEVELS.map((l) => (
              <option key={l} value={l}>
                {l} and above
              </option>
            ))}
          </select>
        </label>
        <label className="stack">
          <span className="label">Step</span>
          <select className="select" value={filters.step} onChange={(e) => setFilters({ step: e.target.value })}>
            <option value="">All steps</option>
            {stepNames.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="stack">
          <span className="label">Trace id</span>
          <input className="input input--mono" value={filters.traceId} onChange={(e) => setFilters({ traceId: e.target.value })} placeholder="any" />
        </label>
        <label className="stack toolbar__grow">
          <span className="label">Search</span>
          <input className="input" type="search" value={filters.text} onChange={(e) => setFilters({ text: e.target.value })} placeholder="message or data" />
        </label>
        {active > 0 ? (
          <button type="button" className="btn btn--ghost toolbar__clear" onClick={() => setSearch(new URLSearchParams(), { replace: true })}>
            Clear filters
          </button>
        ) : null}
      </form>
      {error ? <ErrorNotice error={error} what="logs" onRetry={() => void load()} /> : null}
      {!loaded ? (
        <Loading label="Loading logs…" />
      ) : shown.length === 0 ? (
        <EmptyState title={lines.length === 0 ? 'No logs yet' : 'No line matches the filters'}>
          {lines.length === 0 ? 'Lines appear here as soon as steps log.' : 'Change or clear the filters.'}
        </EmptyState>
      ) : (
        <div className="card log-card">
          <ul className="logs" aria-label="Log lines">
            {shown.slice(0, RENDER_LIMIT).map((line) => (
              <LogRow key={logKey(line)} line={line} />
            ))}
          </ul>
          {shown.length > RENDER_LIMIT ? (
            <p className="muted small log-card__more">Showing the newest {RENDER_LIMIT} lines; narrow the filters to see older ones.</p>
          ) : null}
        </div>
      )}
    </div>
  )
}
