/**
 * App-wide services of the runtime pages: the API client, the shared `/live` connection with the live step
 * activity it feeds, and the registered steps (refetched when the runtime announces a registration change).
 * The same pages run in both homes of the workbench; what differs is given here once: where the runtime is
 * (`client`, see lib/api/location.ts), the prefix of their links (`/p/<project>` under the control plane) and
 * which runtime actions the caller may take (`can`: everything for the local developer; the permission matrix
 * for a signed-in user).
 */
import { createContext, type ReactNode, useContext, useEffect, useMemo, useState } from 'react'
import { type ActivityMap, applySpan, nextExpiry } from '../lib/activity'
import { type ApiClient, type ApiClientOptions, createApiClient } from '../lib/api/client'
import { sameOriginRuntime } from '../lib/api/location'
import { LiveHub, type LiveStatus } from '../lib/api/live'
import type { StepsResponse } from '../lib/api/types'
import { createStore, type Store } from '../lib/store'
import { type Resource, useResource } from '../hooks/useResource'

export const TOKEN_KEY = 'cfp.adminToken'

export interface ActivityState {
  map: ActivityMap
  now: number
}

interface Services {
  api: ApiClient
  hub: LiveHub
  activity: Store<ActivityState>
}

/** How the runtime pages are embedded: link prefix, remote or same-origin runtime, allowed actions. */
export interface RuntimeScope {
  /** Prefix of the pages' own links: '' (served by the runtime) or `/p/<project>` (served by the control plane). */
  prefix: string
  /** The runtime is another origin reached with the session's token (control-plane mode). */
  remote: boolean
  /** Runtime actions of the matrix (`emit`, `dlq.replay`, `step.invoke`, …) plus `layout.write`. */
  can(action: string): boolean
}

const LOCAL_SCOPE: RuntimeScope = { prefix: '', remote: false, can: () => true }

const ServicesContext = createContext<Services | undefined>(undefined)
const ScopeContext = createContext<RuntimeScope>(LOCAL_SCOPE)
const StepsContext = createContext<Resource<StepsResponse> | undefined>(undefined)
const LiveStatusContext = createContext<LiveStatus>('connecting')

function readToken(): string | undefined {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? undefined
  } catch {
    return undefined
  }
}

export interface AppProvidersProps {
  children: ReactNode
  /** Where the runtime is and how to call it; default same origin with this browser's admin token. */
  client?: ApiClientOptions
  scope?: RuntimeScope
}

/** Give a new `client` a new `key` (services are created once per mount). */
export function AppProviders({ children, client, scope = LOCAL_SCOPE }: AppProvidersProps) {
  // biome-ignore lint/correctness/useExhaustiveDependencies: created once per mount; the owner remounts (key) for another runtime or project
  const services = useMemo<Services>(() => {
    const api = createApiClient(client ?? sameOriginRuntime(readToken))
    const hub = new LiveHub(async () => new EventSource(await api.liveUrl()))
    const activity = createStore<ActivityState>({ map: {}, now: Date.now() })
    return { api, hub, activity }
    // created once per mount: the owner remounts (key) for another runtime or project
  }, [])
  const [liveStatus, setLiveStatus] = useState<LiveStatus>(services.hub.status)

  useEffect(() => {
    const { hub, activity } = services
    let timer: ReturnType<typeof setTimeout> | undefined
    const schedule = () => {
      if (timer) clearTimeout(timer)
      const at = nextExpiry(activity.get().map, Date.now())
      if (at !== undefined) {
        timer = setTimeout(() => activity.set((s) => ({ ...s, now: Date.now() })), at - Date.now() + 10)
      }
    }
    const offSpan = hub.on('span', (ev) => {
      const now = Date.now()
      activity.set((s) => ({ map: applySpan(s.map, ev, now), now }))
      schedule()
    })
    const offStatus = hub.onStatus(setLiveStatus)
    hub.start()
    return () => {
      offSpan()
      offStatus()
      hub.stop()
      if (timer) clearTimeout(timer)
    }
  }, [services])

  const steps = useResource(() => services.api.steps(), [services], { intervalMs: liveStatus === 'open' ? 0 : 10_000 })
  useEffect(() => services.hub.on('steps', () => void steps.reload()), [services, steps.reload])

  return (
    <ServicesContext.Provider value={services}>
      <ScopeContext.Provider value={scope}>
        <LiveStatusContext.Provider value={liveStatus}>
          <StepsContext.Provider value={steps}>{children}</StepsContext.Provider>
        </LiveStatusContext.Provider>
      </ScopeContext.Provider>
    </ServicesContext.Provider>
  )
}

function useServices(): Services {
  const s = useContext(ServicesContext)
  if (!s) throw new Error('AppProviders is missing')
  return s
}

export const useApi = () => useServices().api
export const useHub = () => useServices().hub
export const useActivityStore = () => useServices().activity
export const useLiveStatus = () => useContext(LiveStatusContext)
export const useRuntimeScope = () => useContext(ScopeContext)
/** A page's own link (`/traces/x`) under the current prefix (`/p/<project>/traces/x` in control-plane mode). */
export const usePagePath = () => {
  const { prefix } = useContext(ScopeContext)
  return (path: string) => `${prefix}${path}`
}

export function useSteps(): Resource<StepsResponse> {
  const s = useContext(StepsContext)
  if (!s) throw new Error('AppProviders is missing')
  return s
}
