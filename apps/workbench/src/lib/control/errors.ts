/** What to tell the user for each error code of the control plane (docs/control-plane.md, "Error codes"). */
import type { ApiError } from '../api/client'

export interface ErrorText {
  title: string
  detail: string
}

export function describeControlError(e: ApiError): ErrorText {
  switch (e.code) {
    case 'login_failed':
      return { title: 'Sign-in failed', detail: 'The e-mail address or the password is wrong.' }
    case 'unauthenticated':
      return { title: 'Signed out', detail: 'Your sign-in expired or was revoked. Sign in again.' }
    case 'invalid_grant':
      return {
        title: 'Session ended',
        detail: 'Your session expired or was ended elsewhere. Sign in again.',
      }
    case 'signed_out_elsewhere':
      return { title: 'Signed out in another tab', detail: 'You logged out in another tab of this browser, which ended this session here too. Sign in again.' }
    case 'session_moved':
      return {
        title: 'Session continued in another tab',
        detail:
          'Another tab of this browser renewed this session and did not hand it over to this tab, so this tab signed out (the session goes on there). Sign in again.',
      }
    case 'sso_failed':
      return e.status >= 500
        ? {
            title: 'Identity provider unavailable',
            detail: 'The identity provider cannot be reached or is misconfigured. Try again later or ask your tenant admin.',
          }
        : {
            title: 'Single sign-on failed',
            detail: 'The login expired, was refused by the identity provider, or was started in another browser. Start it again.',
          }
    case 'forbidden':
      return { title: 'Not allowed', detail: 'Your role bindings let you see this, but not change it. Ask an admin of this scope.' }
    case 'not_found':
      return { title: 'Not found', detail: 'It does not exist, or it is not visible to you.' }
    case 'conflict':
      return { title: 'Already exists', detail: e.message }
    case 'not_empty':
      return { title: 'Not empty', detail: `${e.message.charAt(0).toUpperCase()}${e.message.slice(1)}.` }
    case 'invalid_request':
      return { title: 'Check the input', detail: e.message }
    case 'setup_unavailable':
      return { title: 'Setup link unavailable', detail: 'The setup link was used, expired, or replaced by a newer one.' }
    case 'too_many_attempts':
      return { title: 'Too many failed sign-ins', detail: `${e.message}. Sign-in for this account is paused to stop password guessing.` }
    case 'payload_too_large':
      return { title: 'Too large', detail: 'The request is larger than the control plane accepts.' }
    case 'network':
      return { title: 'The control plane is not reachable', detail: e.message }
    default:
      return { title: 'The control plane failed', detail: `${e.message} (${e.status} ${e.code}). Try again; the control plane's log has the cause.` }
  }
}
