import { useCallback, useSyncExternalStore } from 'react'
import type { Store } from '../lib/store'

/** Reads a narrow slice of a store; re-renders only when that slice changes (by `Object.is`). */
export function useStoreSelector<T, S>(store: Store<T>, selector: (state: T) => S): S {
  const get = useCallback(() => selector(store.get()), [store, selector])
  return useSyncExternalStore(store.subscribe, get, get)
}
