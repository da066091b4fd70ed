/**
 * Shows an API failure so the user can act on it: unreachable runtime, missing endpoint (an older runtime),
 * missing admin token (with a field to enter one; not when signed in through the control plane), a diagnostic
 * action switched off (`dev_endpoint_disabled`), or the runtime's own message.
 */
import { useState } from 'react'
import { TOKEN_KEY, useRuntimeScope } from '../app/context'
import type { ApiError } from '../lib/api/client'
import { AlertIcon } from './Icons'

export function ErrorNotice({ error, what, onRetry }: { error: ApiError; what?: string; onRetry?: () => void }) {
  const [token, setToken] = useState('')
  const { remote } = useRuntimeScope()
  const askToken = error.isUnauthenticated && !remote
  let title: string
  let detail: string
  if (error.status === 0) {
    title = 'The runtime is not reachable'
    detail = remote
      ? `${error.message}. Is the runtime of this project's region running, and started with --workbench-origins ${window.location.origin}?`
      : `${error.message}. Is \`cfp dev\` still running?`
  } else if (error.isUnauthenticated && remote) {
    title = 'The runtime refused your sign-in'
    detail = `${error.message}. It accepts access tokens of its own region only; sign in again if your session ended.`
  } else if (error.code === 'dev_endpoint_disabled') {
    title = 'Switched off'
    detail = error.message
  } else if (error.isUnauthenticated) {
    title = 'Sign-in needed'
    detail = 'This runtime is not in dev mode: enter its admin token (CFP_ADMIN_TOKEN). It is kept in this browser only.'
  } else if (error.isMissingEndpoint) {
    title = `${what ?? 'This view'} is not available on this runtime`
    detail = `GET /__cfp/api${error.path} answered 404: the runtime is older than this workbench. Update the runtime to use this page.`
  } else {
    title = what ? `Could not load ${what}` : 'Request failed'
    detail = `${error.message} (${error.status} ${error.code})`
  }
  return (
    <div className={`notice ${error.isMissingEndpoint ? 'notice--info' : 'notice--error'}`} role="alert">
      <AlertIcon size={18} />
      <div className="notice__text">
        <strong>{title}</strong>
        <p>{detail}</p>
        {askToken ? (
          <form
            className="notice__form"
            onSubmit={(e) => {
              e.preventDefault()
              localStorage.setItem(TOKEN_KEY, token.trim())
              window.location.reload()
            }}
          >
            <label className="sr-only" htmlFor="admin-token">
              Admin token
            </label>
            <input id="admin-token" className="input" type="password" value={token} onChange={(e) => setToken(e.target.value)} placeholder="Admin token" />
            <button className="btn btn--primary" type="submit" disabled={!token.trim()}>
              Save token
            </button>
          </form>
        ) : null}
      </div>
      {onRetry && !error.isMissingEndpoint && !askToken ? (
        <button type="button" className="btn btn--small" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  )
}
