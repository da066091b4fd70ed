/**
 * Services of the admin pages when the workbench is served by the control plane: the session, the `/v1`
 * client, who the caller is (`GET /v1/me`, reloaded whenever the session changes) and the tenant / team /
 * project selection shared by every page (remembered in this browser).
 */
import { createContext, type ReactNode, useContext, useEffect, useMemo, useState } from 'react'
import { type Resource, useResource } from '../hooks/useResource'
import type { ApiError } from '../lib/api/client'
import { type ControlClient, createControlClient } from '../lib/control/client'
import { can, grantableRoles, POLICY } from '../lib/control/permissions'
import { Session, type SessionState } from '../lib/control/session'
import { browserTabs } from '../lib/control/tabs'
import type { Items, Me, Project, ScopePath, Team, Tenant } from '../lib/control/types'

function browserStorage(kind: 'sessionStorage' | 'localStorage'): Storage | undefined {
  try {
    return window[kind]
  } catch {
    return undefined
  }
}

const SELECTION_KEY = 'cfp.admin.selection'

/**
 * The page's one session: it listens to the other tabs (lib/control/tabs.ts), so it is made once per page rather
 * than per render (StrictMode calls `useMemo` factories twice in development).
 */
let pageSession: Session | undefined
const theSession = () => (pageSession ??= new Session({ storage: browserStorage('sessionStorage'), ...browserTabs() }))

export interface Selection {
  tenant?: Tenant
  team?: Team
  project?: Project
}

interface ControlValue {
  session: Session
  cp: ControlClient
  state: SessionState
  /** Why the session ended by itself (shown on the login page), cleared by the next sign-in. */
  endReason: ApiError | undefined
  me: Resource<Me>
  tenants: Resource<Items<Tenant>>
  teams: Resource<Items<Team>>
  projects: Resource<Items<Project>>
  selection: Selection
  select(kind: 'tenant' | 'team' | 'project', id: string): void
  /** Selects a project with its tenant and team (a project opened by its URL). */
  choose(project: Project): void
}

const ControlContext = createContext<ControlValue | undefined>(undefined)

function readSelection(): Record<string, string> {
  try {
    return JSON.parse(browserStorage('localStorage')?.getItem(SELECTION_KEY) ?? '{}') as Record<string, string>
  } catch {
    return {}
  }
}

const pick = <T extends { id: string }>(items: T[] | undefined, id: string | undefined): T | undefined => items?.find((i) => i.id === id) ?? items?.[0]

export function ControlProviders({ children }: { children: ReactNode }) {
  const session = useMemo(theSession, [])
  const cp = useMemo(() => createControlClient(session), [session])
  const [state, setState] = useState<SessionState>(session.state)
  const [endReason, setEndReason] = useState<ApiError | undefined>(undefined)
  const [generation, setGeneration] = useState(0)
  useEffect(
    () =>
      session.subscribe((e) => {
        setState(e.state)
        setEndReason(e.state === 'signed-in' ? undefined : e.reason)
        setGeneration((g) => g + 1)
      }),
    [session],
  )

  const signedIn = state === 'signed-in'
  const me = useResource(() => cp.me(), [cp, generation], { enabled: signedIn })
  const tenants = useResource(() => cp.tenants(), [cp, generation], { enabled: signedIn })

  const [chosen, setChosen] = useState<Record<string, string>>(readSelection)
  const tenant = pick(tenants.data?.items, chosen.tenant)
  const teams = useResource(() => cp.teams(tenant!.id), [cp, tenant?.id, generation], { enabled: signedIn && Boolean(tenant) })
  const team = pick(teams.data?.items, chosen.team)
  const projects = useResource(() => cp.projects(team!.id), [cp, team?.id, generation], { enabled: signedIn && Boolean(team) })
  const project = pick(projects.data?.items, chosen.project)

  const remember = (next: Record<string, string>) => {
    try {
      browserStorage('localStorage')?.setItem(SELECTION_KEY, JSON.stringify(next))
    } catch {
      // not remembered
    }
    setChosen(next)
  }
  const select = (kind: 'tenant' | 'team' | 'project', id: string) =>
    remember(
      kind === 'tenant'
        ? { tenant: id }
        : kind === 'team'
          ? { tenant: tenant?.id ?? '', team: id }
          : { tenant: tenant?.id ?? '', team: team?.id ?? '', project: id },
    )
  const choose = (p: Project) => remember({ tenant: p.tenantId, team: p.teamId, project: p.id })

  const value: ControlValue = {
    session,
    cp,
    state,
    endReason,
    me,
    tenants,
    teams,
    projects,
    selection: { ...(tenant ? { tenant } : {}), ...(team ? { team } : {}), ...(project ? { project } : {}) },
    select,
    choose,
  }
  return <ControlContext.Provider value={value}>{children}</ControlContext.Provider>
}

export function useControl(): ControlValue {
  const c = useContext(ControlContext)
  if (!c) throw new Error('ControlProviders is missing')
  return c
}

/** May the signed-in caller perform the action on the target? (false while `/v1/me` loads) */
export function useCan(action: string, target: ScopePath | undefined): boolean {
  const { me } = useControl()
  return target !== undefined && can(POLICY, me.data, action, target)
}

/** `can` for many targets at once (e.g. one per row of a list); every answer is false while `/v1/me` loads. */
export function useCanOn(): (action: string, target: ScopePath) => boolean {
  const { me } = useControl()
  return (action, target) => can(POLICY, me.data, action, target)
}

export function useGrantableRoles(scope: ScopePath | undefined): string[] {
  const { me } = useControl()
  return scope ? grantableRoles(POLICY, me.data, scope) : []
}

/** Scope paths of the current selection. */
export function useScopes(): { tenant?: ScopePath; team?: ScopePath; project?: ScopePath } {
  const { selection: s } = useControl()
  return {
    ...(s.tenant ? { tenant: { tenant: s.tenant.id } } : {}),
    ...(s.team ? { team: { tenant: s.team.tenantId, team: s.team.id } } : {}),
    ...(s.project ? { project: { tenant: s.project.tenantId, team: s.project.teamId, project: s.project.id } } : {}),
  }
}
