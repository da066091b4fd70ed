/**
 * Light and dark themes: the user's choice (`light`, `dark`, or `system` to follow `prefers-color-scheme`) is
 * remembered in localStorage and applied as `data-theme` on <html>. index.html applies it before first paint.
 */
export type ThemePref = 'light' | 'dark' | 'system'
export type Theme = 'light' | 'dark'

export const THEME_KEY = 'cfp.theme'

export function parseThemePref(raw: string | null | undefined): ThemePref {
  return raw === 'light' || raw === 'dark' || raw === 'system' ? raw : 'system'
}

export function resolveTheme(pref: ThemePref, prefersDark: boolean): Theme {
  if (pref === 'system') return prefersDark ? 'dark' : 'light'
  return pref
}

/** The toggle flips what is shown; the result is an explicit choice. */
export function toggledPref(current: Theme): ThemePref {
  return current === 'dark' ? 'light' : 'dark'
}
