/**
 * Building blocks of the admin pages: the control plane's errors in words, the result of an action, a
 * section card, and `useAction` for a mutation's busy / error / done state. Every control that changes
 * something carries `data-edit`, so tests can check a viewer is shown none.
 */
import { type ReactNode, useState } from 'react'
import { ApiError } from '../lib/api/client'
import { describeControlError } from '../lib/control/errors'
import { AlertIcon } from './Icons'

export function ControlErrorNotice({ error, what }: { error: ApiError; what?: string }) {
  const text = describeControlError(error)
  const title = what && error.code !== 'network' ? `${text.title}: ${what}` : text.title
  return (
    <div className="notice notice--error" role="alert" data-code={error.code}>
      <AlertIcon size={18} />
      <div className="notice__text">
        <strong>{title}</strong>
        <p>{text.detail}</p>
      </div>
    </div>
  )
}

export function Done({ children }: { children: ReactNode }) {
  return (
    <p className="notice-inline text-ok" role="status">
      {children}
    </p>
  )
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card admin-section">
      <div className="admin-section__head">
        <h2 className="card__title">{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  )
}

export interface Action {
  busy: boolean
  error: ApiError | undefined
  done: string | undefined
  /** Runs a mutation; resolves true when it succeeded. */
  run(fn: () => Promise<unknown>, done?: string): Promise<boolean>
  reset(): void
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const [done, setDone] = useState<string | undefined>(undefined)
  return {
    busy,
    error,
    done,
    reset: () => {
      setError(undefined)
      setDone(undefined)
    },
    async run(fn, doneText) {
      setBusy(true)
      setError(undefined)
      setDone(undefined)
      try {
        await fn()
        setDone(doneText)
        return true
      } catch (e) {
        setError(e instanceof ApiError ? e : new ApiError(0, 'client_error', e instanceof Error ? e.message : String(e), ''))
        return false
      } finally {
        setBusy(false)
      }
    },
  }
}

export function ActionResult({ action }: { action: Action }) {
  if (action.error) return <ControlErrorNotice error={action.error} />
  if (action.done) return <Done>{action.done}</Done>
  return null
}

/** A labelled input row of an admin form. */
export function FormField({ label, htmlFor, children, hint }: { label: string; htmlFor: string; children: ReactNode; hint?: string }) {
  return (
    <div className="stack">
      <label className="label" htmlFor={htmlFor}>
        {label}
      </label>
      {children}
      {hint ? <span className="small muted">{hint}</span> : null}
    </div>
  )
}

/** What a page says when nothing is selected yet. */
export function NeedSelection({ what }: { what: 'tenant' | 'team' | 'project' }) {
  return (
    <div className="empty">
      <p className="empty__title">No {what} selected</p>
      <div className="empty__body muted">Create one, or pick one in the switcher above.</div>
    </div>
  )
}

export const slugify = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
