/**
 * Cron expression checks for `cron` step configs: 5 fields (minute hour day-of-month month day-of-week) or 6
 * (with seconds first), each made of numbers, names, `*`, `?`, ranges, lists and steps.
 */
const FIELD_NAMES_5 = ['minute', 'hour', 'day of month', 'month', 'day of week']
const FIELD_NAMES_6 = ['second', ...FIELD_NAMES_5]
const FIELD_RE = /^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?|L|[0-9]+W|[0-9A-Za-z]+#[0-9]+)(\/[0-9]+)?$/

/** Returns why `expr` is not a valid cron expression, or `undefined` when it is. */
export function cronExpressionProblem(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/).filter(Boolean)
  if (fields.length !== 5 && fields.length !== 6) {
    return `cron expression '${expr}' has ${fields.length} field${fields.length === 1 ? '' : 's'}; expected 5 (minute hour day-of-month month day-of-week) or 6 (with seconds first)`
  }
  const names = fields.length === 5 ? FIELD_NAMES_5 : FIELD_NAMES_6
  for (const [i, field] of fields.entries()) {
    const bad = field.split(',').find((part) => !FIELD_RE.test(part))
    if (bad !== undefined) return `cron expression '${expr}': the ${names[i]} field '${field}' is not valid`
  }
  return undefined
}
