import { describe, expect, it } from 'vitest'
import { describeCron, formatDuration, formatRelative, previewJson, shortId } from './format'

describe('format', () => {
  it('formats durations for people', () => {
    expect(formatDuration(0.5)).toBe('0.50 ms')
    expect(formatDuration(42)).toBe('42 ms')
    expect(formatDuration(1234)).toBe('1.23 s')
    expect(formatDuration(42_000)).toBe('42.0 s')
    expect(formatDuration(125_000)).toBe('2m 05s')
    expect(formatDuration(undefined)).toBe('—')
  })

  it('formats relative times', () => {
    expect(formatRelative(1000, 2000)).toBe('just now')
    expect(formatRelative(0, 42_000)).toBe('42 s ago')
    expect(formatRelative(0, 5 * 60_000)).toBe('5 min ago')
  })

  it('shortens ids and previews JSON', () => {
    expect(shortId('8bc530e3-c361-4163-9401-a41a82123d22')).toBe('8bc530e3')
    expect(shortId(12)).toBe('12')
    expect(previewJson({ a: 'x'.repeat(200) }, 20)).toHaveLength(20)
  })

  it('describes common cron expressions', () => {
    expect(describeCron('* * * * *')).toBe('every minute')
    expect(describeCron('*/5 * * * *')).toBe('every 5 minutes')
    expect(describeCron('0 * * * *')).toBe('every hour')
    expect(describeCron('30 2 * * *')).toBe('daily at 02:30')
    expect(describeCron('0 0 1 * *')).toBe('0 0 1 * *')
  })
})
