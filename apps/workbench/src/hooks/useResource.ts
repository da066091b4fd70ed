/**
 * Loads data from the runtime API, optionally refreshing on an interval, and exposes `{data, error, loading,
 * reload}`. A refresh that fails keeps the last good data and reports the error beside it.
 */
import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react'
import { ApiError } from '../lib/api/client'

export interface Resource<T> {
  data: T | undefined
  error: ApiError | undefined
  loading: boolean
  reload: () => Promise<void>
}

export interface ResourceOptions {
  /** Refresh period in ms; 0 or undefined: load once (and on `reload`). */
  intervalMs?: number
  /** Skip loading while false. */
  enabled?: boolean
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e
  return new ApiError(0, 'client_error', e instanceof Error ? e.message : String(e), '')
}

export function useResource<T>(load: () => Promise<T>, deps: DependencyList, options: ResourceOptions = {}): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const [loading, setLoading] = useState(true)
  const generation = useRef(0)
  const loadRef = useRef(load)
  loadRef.current = load
  const enabled = options.enabled !== false

  const run = useCallback(async (gen: number) => {
    try {
      const value = await loadRef.current()
      if (gen !== generation.current) return
      setData(value)
      setError(undefined)
    } catch (e) {
      if (gen !== generation.current) return
      setError(toApiError(e))
    } finally {
      if (gen === generation.current) setLoading(false)
    }
  }, [])

  // (re)load when the inputs change
  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps are the inputs; `run` is stable per them
  useEffect(() => {
    const gen = ++generation.current
    setData(undefined)
    setError(undefined)
    if (!enabled) {
      setLoading(false)
      return
    }
    setLoading(true)
    void run(gen)
  }, [...deps, enabled, run])

  // refresh in the background, keeping what is shown until the new data arrives
  useEffect(() => {
    if (!enabled || !options.intervalMs) return
    const timer = setInterval(() => {
      if (document.visibilityState === 'hidden') return
      void run(generation.current)
    }, options.intervalMs)
    return () => clearInterval(timer)
  }, [enabled, options.intervalMs, run])

  const reload = useCallback(() => run(generation.current), [run])
  return { data, error, loading, reload }
}
