import { describe, expect, it } from 'vitest'
import { bucketLabel, EMPTY_COUNTS, fillBuckets, formatBytes, refusals, sumCounts, usageQuery } from './usage'

const H = 3_600_000
const T0 = Date.UTC(2026, 11, 7, 10) // 2026-12-07 10:00 UTC

describe('usage', () => {
  it('asks for whole buckets up to and including the current one', () => {
    const q = usageQuery('project', 'hour', 24, T0 + 25 * 60_000)
    expect(q).toEqual({ scope: 'project', granularity: 'hour', from: T0 + H - 24 * H, to: T0 + H })
    const d = usageQuery('tenant', 'day', 7, T0)
    expect(d.to - d.from).toBe(7 * 24 * H)
    expect(new Date(d.to).toISOString()).toBe('2026-12-08T00:00:00.000Z')
  })

  it('fills the buckets without rows with zeros, newest first', () => {
    const rows = [
      { ...EMPTY_COUNTS, startMs: T0 - 2 * H, invocations: 3 },
      { ...EMPTY_COUNTS, startMs: T0, invocations: 5, refused429: 2 },
    ]
    const filled = fillBuckets({ rows, from: T0 - 3 * H, to: T0 + H, granularity: 'hour' })
    expect(filled.map((r) => [r.startMs, r.invocations])).toEqual([
      [T0, 5],
      [T0 - H, 0],
      [T0 - 2 * H, 3],
      [T0 - 3 * H, 0],
    ])
    expect(fillBuckets({ rows, from: T0 - 3 * H, to: T0 + H, granularity: 'hour' }, 2)).toHaveLength(2)
  })

  it('sums counts and refusals', () => {
    const t = sumCounts([
      { ...EMPTY_COUNTS, invocations: 1, execMs: 2.5, refused413: 1 },
      { ...EMPTY_COUNTS, invocations: 2, execMs: 0.5, refused504: 3, payloadBytes: 10 },
    ])
    expect(t).toEqual({ ...EMPTY_COUNTS, invocations: 3, execMs: 3, refused413: 1, refused504: 3, payloadBytes: 10 })
    expect(refusals(t)).toBe(4)
  })

  it('labels buckets in UTC and sizes bytes', () => {
    expect(bucketLabel(T0, 'hour')).toBe('2026-12-07 10:00')
    expect(bucketLabel(T0, 'day')).toBe('2026-12-07')
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KB')
    expect(formatBytes(200 * 1024 * 1024)).toBe('200 MB')
  })
})
