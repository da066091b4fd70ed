/** Pretty-printed JSON with token colours, in a box that scrolls by itself (never the page). */
import { memo, type ReactNode } from 'react'
import { prettyJson } from '../lib/format'

const TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g

function highlight(text: string): ReactNode[] {
  const out: ReactNode[] = []
  let last = 0
  let key = 0
  for (const m of text.matchAll(TOKEN)) {
    const index = m.index ?? 0
    if (index > last) out.push(text.slice(last, index))
    if (m[1]) {
      out.push(
        <span key={key++} className={m[2] ? 'j-key' : 'j-str'}>
          {m[1]}
        </span>,
      )
      if (m[2]) out.push(m[2])
    } else if (m[3]) {
      out.push(
        <span key={key++} className="j-lit">
          {m[3]}
        </span>,
      )
    } else if (m[4]) {
      out.push(
        <span key={key++} className="j-num">
          {m[4]}
        </span>,
      )
    }
    last = index + m[0].length
  }
  if (last < text.length) out.push(text.slice(last))
  return out
}

export const JsonView = memo(function JsonView({
  value,
  text,
  maxHeight,
  label,
}: {
  value?: unknown
  /** Already formatted text (shown as JSON when it parses). */
  text?: string
  maxHeight?: number
  label?: string
}) {
  const shown = text ?? prettyJson(value)
  return (
    <pre className="json" style={maxHeight ? { maxHeight } : undefined} aria-label={label} tabIndex={0}>
      <code>{shown.length > 200_000 ? shown : highlight(shown)}</code>
    </pre>
  )
})
