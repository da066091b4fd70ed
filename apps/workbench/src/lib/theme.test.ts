import { describe, expect, it } from 'vitest'
import { parseThemePref, resolveTheme, toggledPref } from './theme'

describe('theme', () => {
  it('follows the system until the user chooses', () => {
    expect(resolveTheme(parseThemePref(null), true)).toBe('dark')
    expect(resolveTheme(parseThemePref('garbage'), false)).toBe('light')
    expect(resolveTheme(parseThemePref('light'), true)).toBe('light')
  })

  it('toggles to an explicit choice', () => {
    expect(toggledPref('dark')).toBe('light')
    expect(toggledPref('light')).toBe('dark')
  })
})
