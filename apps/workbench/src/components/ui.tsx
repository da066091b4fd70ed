/** Small presentational building blocks shared by the pages. */
import { memo, type ReactNode, useState } from 'react'
import type { StepType } from '../lib/api/types'
import { ApiIcon, CopyIcon, CronIcon, EventIcon, NoopIcon } from './Icons'

export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <header className="page-header">
      <div className="page-header__text">
        <h1>{title}</h1>
        {description ? <p className="muted">{description}</p> : null}
      </div>
      {actions ? <div className="page-header__actions">{actions}</div> : null}
    </header>
  )
}

export type Tone = 'neutral' | 'ok' | 'warn' | 'error' | 'info' | 'accent'

export function Badge({ tone = 'neutral', children, title }: { tone?: Tone; children: ReactNode; title?: string }) {
  return (
    <span className={`badge badge--${tone}`} title={title}>
      {children}
    </span>
  )
}

export const MethodBadge = memo(function MethodBadge({ method }: { method: string }) {
  const m = method.toUpperCase()
  return <span className={`method method--${m.toLowerCase()}`}>{m}</span>
})

const TYPE_LABEL: Record<StepType, string> = { api: 'API', event: 'Event', cron: 'Cron', noop: 'Noop' }

export function StepTypeIcon({ type, size = 14 }: { type: string; size?: number }) {
  switch (type) {
    case 'api':
      return <ApiIcon size={size} />
    case 'cron':
      return <CronIcon size={size} />
    case 'noop':
      return <NoopIcon size={size} />
    default:
      return <EventIcon size={size} />
  }
}

export const StepTypeBadge = memo(function StepTypeBadge({ type }: { type: string }) {
  return (
    <span className={`type-badge type-badge--${type}`}>
      <StepTypeIcon type={type} size={12} />
      {TYPE_LABEL[type as StepType] ?? type}
    </span>
  )
})

export function StatusDot({ status, label }: { status: 'ok' | 'error' | 'running' | 'idle' | string; label?: string }) {
  return <span className={`status-dot status-dot--${status}`} role="img" aria-label={label ?? status} title={label ?? status} />
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty__title">{title}</p>
      {children ? <div className="empty__body muted">{children}</div> : null}
    </div>
  )
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  )
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false)
  return (
    <button
      type="button"
      className="btn btn--ghost btn--icon"
      aria-label={done ? 'Copied' : label}
      title={done ? 'Copied' : label}
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(
          () => {
            setDone(true)
            setTimeout(() => setDone(false), 1200)
          },
          () => undefined,
        )
      }}
    >
      <CopyIcon size={15} />
    </button>
  )
}

/** A labelled value in a definition list. */
export function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="field">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  )
}
