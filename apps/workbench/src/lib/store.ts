/**
 * A minimal external store (for `useSyncExternalStore`): components read it through narrow selectors, so a
 * change re-renders only the components whose selected value changed.
 *
 * @example
 * const counter = createStore({ n: 0 })
 * counter.set((s) => ({ n: s.n + 1 }))
 */
export interface Store<T> {
  get(): T
  set(update: (state: T) => T): void
  subscribe(listener: () => void): () => void
}

export function createStore<T>(initial: T): Store<T> {
  let state = initial
  const listeners = new Set<() => void>()
  return {
    get: () => state,
    set(update) {
      const next = update(state)
      if (Object.is(next, state)) return
      state = next
      for (const l of [...listeners]) l()
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}
