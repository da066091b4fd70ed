/**
 * Helpers shared by the config validators: the problem collector and key/type checks.
 */

export interface ConfigError {
  /** The step file, as given to `validateStepConfig`. */
  file: string
  /** The config key the problem is about: `method`, `infrastructure.queue.delaySeconds`, `emits[1].topic`... */
  key: string
  /** What is wrong, without the file and key. */
  reason: string
  /** `<file>: config.<key>: <reason>` */
  message: string
}

/** Collects problems for one file. */
export class Problems {
  readonly errors: ConfigError[] = []
  constructor(readonly file: string) {}

  add(key: string, reason: string): void {
    this.errors.push({ file: this.file, key, reason, message: `${this.file}: config.${key}: ${reason}` })
  }
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export const describeValue = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `'${v}'` : typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`

export function stringArray(p: Problems, v: unknown, key: string, nonEmptyItems = true): void {
  if (!Array.isArray(v)) {
    p.add(key, `must be an array of strings, got ${describeValue(v)}`)
    return
  }
  v.forEach((s, i) => {
    if (typeof s !== 'string' || (nonEmptyItems && s === '')) p.add(`${key}[${i}]`, `must be a non-empty string, got ${describeValue(s)}`)
  })
}

/** Reports every key of `obj` not in `allowed`, suggesting the closest allowed key. */
export function checkKeys(p: Problems, obj: Record<string, unknown>, allowed: string[], what: string, prefix = ''): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue
    const near = allowed.find((a) => editDistance(a, key) <= 2)
    const hint = near ? ` (did you mean '${near}'?)` : ''
    p.add(`${prefix}${key}`, `unknown key '${key}' in ${what}${hint}; allowed keys: ${allowed.join(', ')}`)
  }
}

function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] ?? 0
    d[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j] ?? 0
      d[j] = Math.min((d[j] ?? 0) + 1, (d[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return d[b.length] ?? 0
}
