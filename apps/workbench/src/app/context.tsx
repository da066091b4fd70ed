/**
 * App-wide services: the API client, the shared `/live` connection with the live step activity it feeds,
 * and the registered steps (refetched when the runtime announces a registration change).
 */
import { createContext, type ReactNode, useContext, useEffect, useMemo, useState } from 'react'
import { type ActivityMap, applySpan, nextExpiry } from '../lib/activity'
import { type ApiClient, createApiClient } from '../lib/api/client'
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

const ServicesContext = createContext<Services | undefined>(undefined)
const StepsContext = createContext<Resource<StepsResponse> | undefined>(undefined)
const LiveStatusContext = createContext<LiveStatus>('connecting')

function readToken(): string | undefined {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? undefined
  } catch {
    return undefined
  }
}

export function AppProviders({ children }: { children: ReactNode }) {
  const services = useMemo<Services>(() => {
    const api = createApiClient({ token: readToken })
    const hub = new LiveHub(() => new EventSource(api.liveUrl()))
    const activity = createStore<ActivityState>({ map: {}, now: Date.now() })
    return { api, hub, activity }
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
      <LiveStatusContext.Provider value={liveStatus}>
        <StepsContext.Provider value={steps}>{children}</StepsContext.Provider>
      </LiveStatusContext.Provider>
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

export function useSteps(): Resource<StepsResponse> {
  const s = useContext(StepsContext)
  if (!s) throw new Error('AppProviders is missing')
  return s
}
