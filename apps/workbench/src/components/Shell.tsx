/**
 * The frame of every page: a sidebar with the navigation on wide screens, a top bar with a menu button on
 * narrow ones, the theme toggle and the live-connection indicator.
 */
import { type ComponentType, type ReactNode, useEffect, useState } from 'react'
import { NavLink, useLocation } from 'react-router'
import { useLiveStatus } from '../app/context'
import { useTheme } from '../hooks/useTheme'
import {
  AuditIcon,
  CloseIcon,
  EndpointsIcon,
  FlowsIcon,
  LogsIcon,
  MenuIcon,
  MetricsIcon,
  MoonIcon,
  QueuesIcon,
  StateIcon,
  StreamsIcon,
  SunIcon,
  TracesIcon,
  UsageIcon,
} from './Icons'

export interface NavItem {
  to: string
  label: string
  icon: ComponentType<{ size?: number }>
}

export const NAV: readonly NavItem[] = [
  { to: '/flows', label: 'Flows', icon: FlowsIcon },
  { to: '/endpoints', label: 'Endpoints', icon: EndpointsIcon },
  { to: '/logs', label: 'Logs', icon: LogsIcon },
  { to: '/traces', label: 'Traces', icon: TracesIcon },
  { to: '/state', label: 'State', icon: StateIcon },
  { to: '/streams', label: 'Streams', icon: StreamsIcon },
  { to: '/queues', label: 'Queues', icon: QueuesIcon },
  { to: '/metrics', label: 'Metrics', icon: MetricsIcon },
  { to: '/audit', label: 'Audit', icon: AuditIcon },
  { to: '/usage', label: 'Usage', icon: UsageIcon },
]

const LIVE_LABEL = { open: 'Live', connecting: 'Connecting…', down: 'Live updates off' } as const

export function LiveIndicator() {
  const status = useLiveStatus()
  return (
    <span className={`live live--${status}`} role="status" title={status === 'down' ? 'GET /__cfp/api/live is not reachable; pages poll instead' : undefined}>
      <span className="live__dot" aria-hidden="true" />
      {LIVE_LABEL[status]}
    </span>
  )
}

function ThemeToggle() {
  const { theme, toggle } = useTheme()
  const next = theme === 'dark' ? 'light' : 'dark'
  return (
    <button type="button" className="btn btn--ghost btn--icon" onClick={toggle} aria-label={`Switch to ${next} theme`} title={`Switch to ${next} theme`}>
      {theme === 'dark' ? <SunIcon /> : <MoonIcon />}
    </button>
  )
}

function Brand({ home }: { home: string }) {
  return (
    <NavLink to={home} className="brand" aria-label="CFP workbench, home">
      <span className="brand__mark" aria-hidden="true">
        <svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round">
          <circle cx="6" cy="7" r="2.4" />
          <circle cx="18" cy="7" r="2.4" />
          <circle cx="12" cy="17" r="2.4" />
          <path d="M8.4 7h7.2M7.2 9.2l3.6 5.6M16.8 9.2l-3.6 5.6" />
        </svg>
      </span>
      <span className="brand__name">
        CFP <span className="brand__sub">Workbench</span>
      </span>
    </NavLink>
  )
}

function NavLinks({ nav, onNavigate }: { nav: readonly NavItem[]; onNavigate?: () => void }) {
  return (
    <ul className="nav__list">
      {nav.map(({ to, label, icon: IconC }) => (
        <li key={to}>
          <NavLink to={to} className={({ isActive }) => `nav__link${isActive ? ' nav__link--active' : ''}`} onClick={onNavigate}>
            <IconC size={18} />
            <span>{label}</span>
          </NavLink>
        </li>
      ))}
    </ul>
  )
}

export interface ShellProps {
  children: ReactNode
  /** The navigation; default the runtime pages. */
  nav?: readonly NavItem[]
  /** Where the brand links to. */
  home?: string
  /** Beside the theme toggle; default the live-connection indicator. */
  status?: ReactNode
  /** Above the page (the tenant / team / project switcher of the admin pages). */
  top?: ReactNode
}

export function Shell({ children, nav = NAV, home = '/flows', status = <LiveIndicator />, top }: ShellProps) {
  const [menuOpen, setMenuOpen] = useState(false)
  const location = useLocation()
  // biome-ignore lint/correctness/useExhaustiveDependencies: the menu closes when the page changes
  useEffect(() => setMenuOpen(false), [location.pathname])
  useEffect(() => {
    if (!menuOpen) return
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setMenuOpen(false)
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [menuOpen])

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar" aria-label="Workbench">
        <Brand home={home} />
        <nav aria-label="Main">
          <NavLinks nav={nav} />
        </nav>
        <div className="sidebar__footer">
          {status}
          <ThemeToggle />
        </div>
      </aside>
      <header className="topbar">
        <button
          type="button"
          className="btn btn--ghost btn--icon"
          aria-label={menuOpen ? 'Close menu' : 'Open menu'}
          aria-expanded={menuOpen}
          aria-controls="mobile-nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          {menuOpen ? <CloseIcon /> : <MenuIcon />}
        </button>
        <Brand home={home} />
        <div className="topbar__end">
          {status}
          <ThemeToggle />
        </div>
      </header>
      {menuOpen ? (
        <>
          <div className="drawer-backdrop" onClick={() => setMenuOpen(false)} aria-hidden="true" />
          <nav id="mobile-nav" className="drawer" aria-label="Main">
            <NavLinks nav={nav} onNavigate={() => setMenuOpen(false)} />
          </nav>
        </>
      ) : null}
      <main id="main" className="main" tabIndex={-1}>
        {top}
        {children}
      </main>
    </div>
  )
}
