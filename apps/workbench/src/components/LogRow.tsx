/** One log line: time, level, step, message, data (expandable) and a link to its trace. */
import { memo, useState } from 'react'
import { Link } from 'react-router'
import { usePagePath } from '../app/context'
import type { LogLine } from '../lib/api/types'
import { formatClock, formatDateTime, previewJson, shortId } from '../lib/format'
import { ChevronIcon } from './Icons'
import { JsonView } from './JsonView'

function hasData(data: unknown): boolean {
  if (data === undefined || data === null) return false
  if (typeof data === 'object' && Object.keys(data as object).length === 0) return false
  return true
}

export const LogRow = memo(function LogRow({ line, showTrace = true }: { line: LogLine; showTrace?: boolean }) {
  const [open, setOpen] = useState(false)
  const page = usePagePath()
  const withData = hasData(line.data)
  return (
    <li className={`log log--${line.level}`} data-testid="log-line">
      <time className="log__time" dateTime={new Date(line.tsMs).toISOString()} title={formatDateTime(line.tsMs)}>
        {formatClock(line.tsMs)}
      </time>
      <span className={`log__level log__level--${line.level}`}>{line.level}</span>
      <span className="log__step" title={line.step}>
        {line.step ?? 'runtime'}
      </span>
      <span className="log__msg">
        {withData ? (
          <button type="button" className="log__toggle" aria-expanded={open} onClick={() => setOpen((o) => !o)} aria-label={open ? 'Hide data' : 'Show data'}>
            <ChevronIcon size={13} />
          </button>
        ) : null}
        <span className="log__text">{line.msg}</span>
        {withData && !open ? <span className="log__data">{previewJson(line.data, 160)}</span> : null}
      </span>
      {showTrace ? (
        <span className="log__trace">
          {line.traceId ? (
            <Link to={page(`/traces/${encodeURIComponent(line.traceId)}`)} title={`Trace ${line.traceId}`}>
              {shortId(line.traceId)}
            </Link>
          ) : null}
        </span>
      ) : null}
      {withData && open ? (
        <div className="log__detail">
          <JsonView value={line.data} maxHeight={300} label="Log data" />
        </div>
      ) : null}
    </li>
  )
})
