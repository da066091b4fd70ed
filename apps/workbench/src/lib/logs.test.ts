import { describe, expect, it } from 'vitest'
import type { LogLine } from './api/types'
import { EMPTY_FILTERS, filterLogs, filtersFromSearch, filtersToSearch, lastLogId, mergeLogs } from './logs'

const lines: LogLine[] = [
  { id: 1, tsMs: 1000, level: 'debug', msg: 'connecting', step: 'HelloApi', traceId: 'aaaa-1' },
  { id: 2, tsMs: 1001, level: 'info', msg: 'Greeting received', step: 'HelloApi', traceId: 'aaaa-1', data: { name: 'Ada' } },
  { id: 3, tsMs: 1002, level: 'warn', msg: 'slow', step: 'ProcessGreeting', traceId: 'bbbb-2' },
  { id: 4, tsMs: 1003, level: 'error', msg: 'Payment declined', step: 'ChargePayment', traceId: 'cccc-3' },
  { id: 5, tsMs: 1004, level: 'info', msg: 'runtime started' },
]

const ids = (ls: LogLine[]) => ls.map((l) => l.id)

describe('log filters', () => {
  it('keeps every line without filters', () => {
    expect(ids(filterLogs(lines, EMPTY_FILTERS))).toEqual([1, 2, 3, 4, 5])
  })

  it('filters by minimum level', () => {
    expect(ids(filterLogs(lines, { ...EMPTY_FILTERS, level: 'warn' }))).toEqual([3, 4])
    expect(ids(filterLogs(lines, { ...EMPTY_FILTERS, level: 'info' }))).toEqual([2, 3, 4, 5])
  })

  it('filters by step and by trace id prefix', () => {
    expect(ids(filterLogs(lines, { ...EMPTY_FILTERS, step: 'HelloApi' }))).toEqual([1, 2])
    expect(ids(filterLogs(lines, { ...EMPTY_FILTERS, traceId: 'bbbb' }))).toEqual([3])
  })

  it('searches message, step and data, case-insensitively', () => {
    expect(ids(filterLogs(lines, { ...EMPTY_FILTERS, text: 'ada' }))).toEqual([2])
    expect(ids(filterLogs(lines, { ...EMPTY_FILTERS, text: 'PAYMENT' }))).toEqual([4])
    expect(ids(filterLogs(lines, { ...EMPTY_FILTERS, text: 'processgreeting' }))).toEqual([3])
  })

  it('combines filters', () => {
    expect(ids(filterLogs(lines, { level: 'info', step: 'HelloApi', traceId: 'aaaa', text: 'greeting' }))).toEqual([2])
  })

  it('round-trips through URL search parameters and ignores unknown levels', () => {
    const f = { level: 'warn' as const, step: 'A', traceId: 't', text: 'x y' }
    expect(filtersFromSearch(filtersToSearch(f))).toEqual(f)
    expect(filtersFromSearch(new URLSearchParams('level=loud')).level).toBe('')
  })
})

describe('mergeLogs', () => {
  it('appends live lines without duplicates, oldest first', () => {
    const merged = mergeLogs(lines.slice(0, 3), [lines[2]!, lines[4]!, lines[3]!])
    expect(ids(merged)).toEqual([1, 2, 3, 4, 5])
  })

  it('keeps the newest lines up to the cap', () => {
    expect(ids(mergeLogs(lines.slice(0, 2), lines.slice(2), 3))).toEqual([3, 4, 5])
  })

  it('deduplicates by content: a live line without id and the same line from GET /logs are one', () => {
    const live = { tsMs: 1, level: 'info', msg: 'x', step: 'A', traceId: 't', invocationId: '2.1' }
    expect(mergeLogs([live], [{ ...live }])).toHaveLength(1)
    const merged = mergeLogs([live], [{ ...live, id: 7 }])
    expect(merged).toEqual([{ ...live, id: 7 }])
    expect(mergeLogs(merged, [live])).toBe(merged)
  })

  it('finds the cursor for `after`', () => {
    expect(lastLogId(lines)).toBe(5)
    expect(lastLogId([{ tsMs: 1, level: 'info', msg: 'x' }])).toBeUndefined()
  })
})
