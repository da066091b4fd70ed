/** A modal confirmation on the native <dialog> element: focus is trapped and Escape cancels. */
import { type ReactNode, useEffect, useRef } from 'react'

export interface ConfirmDialogProps {
  open: boolean
  title: string
  children?: ReactNode
  confirmLabel: string
  tone?: 'primary' | 'danger'
  busy?: boolean
  /** Keeps the confirm button disabled (e.g. until the user typed what the dialog asks for). */
  confirmDisabled?: boolean
  /** id of the title, when a page has more than one dialog */
  titleId?: string
  onConfirm: () => void
  onCancel: () => void
}

export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  tone = 'primary',
  busy,
  confirmDisabled,
  titleId = 'confirm-title',
  onConfirm,
  onCancel,
}: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const d = ref.current
    if (!d) return
    if (open && !d.open) d.showModal()
    if (!open && d.open) d.close()
  }, [open])
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault()
        onCancel()
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault()
          if (!confirmDisabled && !busy) onConfirm()
        }}
      >
        <h2 id={titleId}>{title}</h2>
        {children ? <div className="dialog__body">{children}</div> : null}
        <div className="dialog__actions">
          <button type="button" className="btn" onClick={onCancel} autoFocus>
            Cancel
          </button>
          <button type="submit" className={`btn btn--${tone}`} disabled={busy || confirmDisabled}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  )
}
