/**
 * Plain-text tables for terminal output: one header row, columns padded to the widest cell, cells cut to a
 * maximum width with `…`, newlines flattened.
 */
export interface Column<T> {
  header: string
  get: (row: T) => string
  maxWidth?: number
}

function cell(text: string, max: number | undefined): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return max !== undefined && flat.length > max ? `${flat.slice(0, Math.max(0, max - 1))}…` : flat
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => cell(c.get(row), c.maxWidth)))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]?.length ?? 0)))
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n')
}
