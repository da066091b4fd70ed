/**
 * Sign-in: e-mail and password (local accounts such as the bootstrap admin), or single sign-on through one
 * of a tenant's identity providers. An SSO login ends back here with `?code=`, a one-time login code that is
 * exchanged for the token pair. The first-run setup form ends here with `?setup=done`: the page then says that
 * setup is complete and that the account just created signs in below.
 */
import { type FormEvent, useEffect, useState } from 'react'
import { Navigate, useNavigate, useSearchParams } from 'react-router'
import { useControl } from '../app/control'
import { ControlErrorNotice, FormField } from '../components/admin'
import { Loading } from '../components/ui'
import { ApiError } from '../lib/api/client'
import type { Provider } from '../lib/control/types'

const TENANT_KEY = 'cfp.login.tenant'
/** Codes being redeemed, so a re-run effect (React's strict mode) never presents a one-time code twice. */
const redeeming = new Map<string, Promise<void>>()

const asApiError = (e: unknown) => (e instanceof ApiError ? e : new ApiError(0, 'client_error', String(e), ''))

function safeNext(next: string | null): string {
  return next && /^\/admin(\/|$)/.test(next) ? next : '/admin/tenants'
}

function readTenant(): string {
  try {
    return localStorage.getItem(TENANT_KEY) ?? ''
  } catch {
    return ''
  }
}

function SsoLogin() {
  const { cp } = useControl()
  const [tenant, setTenant] = useState(readTenant)
  const [providers, setProviders] = useState<Provider[] | undefined>(undefined)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const [busy, setBusy] = useState(false)

  const find = async (slug: string) => {
    setBusy(true)
    setError(undefined)
    try {
      setProviders((await cp.providers(slug.trim().toLowerCase())).items)
      localStorage.setItem(TENANT_KEY, slug.trim().toLowerCase())
    } catch (e) {
      setError(asApiError(e))
    } finally {
      setBusy(false)
    }
  }
  // biome-ignore lint/correctness/useExhaustiveDependencies: once on mount, for the tenant remembered from last time
  useEffect(() => {
    if (tenant) void find(tenant)
  }, [])

  const returnTo = `${import.meta.env.BASE_URL}login`
  return (
    <section className="card login__card" aria-labelledby="sso-title">
      <h2 id="sso-title" className="card__title">
        Single sign-on
      </h2>
      <form
        className="login__form"
        onSubmit={(e) => {
          e.preventDefault()
          void find(tenant)
        }}
      >
        <FormField label="Tenant" htmlFor="sso-tenant" hint="The short name of your organisation, e.g. acme">
          <input id="sso-tenant" className="input" value={tenant} onChange={(e) => setTenant(e.target.value)} autoComplete="organization" required />
        </FormField>
        <button type="submit" className="btn" disabled={busy || !tenant.trim()}>
          {busy ? 'Looking…' : 'Show sign-in options'}
        </button>
      </form>
      {error ? <ControlErrorNotice error={error} /> : null}
      {providers ? (
        providers.length ? (
          <ul className="login__providers">
            {providers.map((p) => (
              <li key={p.id}>
                <a className="btn btn--primary login__provider" href={`${p.loginUrl}?return_to=${encodeURIComponent(returnTo)}`}>
                  Sign in with {p.name} <span className="muted small">({p.kind.toUpperCase()})</span>
                </a>
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted small">No single sign-on is set up for “{tenant}”. Check the name, or sign in with a password.</p>
        )
      ) : null}
    </section>
  )
}

export default function LoginPage() {
  const { session, state, endReason } = useControl()
  const [params] = useSearchParams()
  const navigate = useNavigate()
  const next = safeNext(params.get('next'))
  const code = params.get('code')
  const setupDone = params.get('setup') === 'done'
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | undefined>(undefined)

  useEffect(() => {
    if (!code) return
    let p = redeeming.get(code)
    if (!p) {
      p = session.exchangeCode(code)
      redeeming.set(code, p)
    }
    p.then(
      () => navigate(next, { replace: true }),
      (e: unknown) => {
        setError(asApiError(e))
        navigate('/login', { replace: true })
      },
    )
  }, [code, next, navigate, session])

  if (code && !error) return <Loading label="Completing single sign-on…" />
  if (state === 'signed-in' && !code) return <Navigate to={next} replace />

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      await session.login(email.trim(), password)
      navigate(next, { replace: true })
    } catch (err) {
      setError(asApiError(err))
    } finally {
      setBusy(false)
    }
  }

  const shown = error ?? endReason
  return (
    <main className="login">
      <div className="login__inner">
        <h1>Sign in to CFP</h1>
        {setupDone && !shown ? (
          <div className="notice notice--info" role="status" data-notice="setup-done">
            <div className="notice__text">
              <p>Setup is complete. Sign in with the e-mail address and password you just chose.</p>
            </div>
          </div>
        ) : null}
        {shown ? <ControlErrorNotice error={shown} /> : null}
        <section className="card login__card" aria-labelledby="pw-title">
          <h2 id="pw-title" className="card__title">
            E-mail and password
          </h2>
          <form className="login__form" onSubmit={(e) => void submit(e)}>
            <FormField label="E-mail" htmlFor="login-email">
              <input
                id="login-email"
                className="input"
                type="email"
                value={email}
                onChange={(e) => setEmail(e.target.value)}
                autoComplete="username"
                required
              />
            </FormField>
            <FormField label="Password" htmlFor="login-password">
              <input
                id="login-password"
                className="input"
                type="password"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
                autoComplete="current-password"
                required
              />
            </FormField>
            <button type="submit" className="btn btn--primary" disabled={busy}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
          </form>
        </section>
        <SsoLogin />
      </div>
    </main>
  )
}
