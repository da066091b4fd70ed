import { useCallback, useEffect, useState } from 'react'
import { parseThemePref, resolveTheme, type Theme, THEME_KEY, type ThemePref, toggledPref } from '../lib/theme'

const media = () => window.matchMedia('(prefers-color-scheme: dark)')

function storedPref(): ThemePref {
  try {
    return parseThemePref(localStorage.getItem(THEME_KEY))
  } catch {
    return 'system'
  }
}

/** The shown theme and a toggle; follows the system until the user picks one, then remembers it. */
export function useTheme(): { theme: Theme; toggle: () => void } {
  const [pref, setPref] = useState<ThemePref>(storedPref)
  const [prefersDark, setPrefersDark] = useState(() => media().matches)
  const theme = resolveTheme(pref, prefersDark)

  useEffect(() => {
    const m = media()
    const onChange = () => setPrefersDark(m.matches)
    m.addEventListener('change', onChange)
    return () => m.removeEventListener('change', onChange)
  }, [])

  useEffect(() => {
    document.documentElement.dataset.theme = theme
    document.documentElement.style.colorScheme = theme
  }, [theme])

  const toggle = useCallback(() => {
    const next = toggledPref(theme)
    setPref(next)
    try {
      localStorage.setItem(THEME_KEY, next)
    } catch {
      // private mode: the choice lasts for this page only
    }
  }, [theme])

  return { theme, toggle }
}
