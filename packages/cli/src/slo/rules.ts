/**
 * Prometheus recording and alerting rules equivalent to the runtime's built-in SLO evaluator (docs/slo.md), in
 * the style of Sloth and Pyrra: per SLO and SLI, the bad ratio over every window the policy uses, recorded once;
 * per burn rule, an alert when both its windows burn faster than its factor and the long window saw at least
 * `minEvents` attempts. Metric names are the runtime's `/metrics`: `cfp_step_invocations_total{tenant,project,step,
 * outcome}` and the histogram `cfp_step_duration_seconds{tenant,project,step}`.
 *
 * @example
 * const yaml = stringify(prometheusRules({ tenant: 't', project: 'p', slos, policy }))
 */

export interface SloSpec {
  name?: string
  description?: string
  window: string
  latency?: { thresholdMs: number; target: number }
  errors?: { target: number }
  minEvents?: number
}

export interface BurnRule {
  name: string
  severity: 'page' | 'ticket'
  longSecs: number
  shortSecs: number
  factor: number
  forSecs: number
}

export interface SloPolicy {
  rules: BurnRule[]
  minEvents: number
}

export interface StepSlo {
  step: string
  spec: SloSpec
}

/** The SRE workbook's defaults, as the runtime's `SloPolicy::default()`. */
export const DEFAULT_POLICY: SloPolicy = {
  rules: [
    { name: 'page-fast', severity: 'page', longSecs: 3600, shortSecs: 300, factor: 14.4, forSecs: 120 },
    { name: 'page-slow', severity: 'page', longSecs: 21600, shortSecs: 1800, factor: 6, forSecs: 900 },
    { name: 'ticket', severity: 'ticket', longSecs: 259200, shortSecs: 21600, factor: 1, forSecs: 3600 },
  ],
  minEvents: 100,
}

/** A Prometheus duration (`5m`, `6h`, `3d`) of whole seconds. */
export function promDuration(secs: number): string {
  if (secs % 86400 === 0) return `${secs / 86400}d`
  if (secs % 3600 === 0) return `${secs / 3600}h`
  if (secs % 60 === 0) return `${secs / 60}m`
  return `${secs}s`
}

/** Label matchers are quoted with JSON escapes, which PromQL accepts for `"` and `\`. */
function selector(labels: Record<string, string>, extra = ''): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`)
  if (extra) parts.push(extra)
  return `{${parts.join(',')}}`
}

/** `le` label of a threshold as the histogram writes it (seconds, shortest form: 0.5, 1, 2.5). */
export function leLabel(thresholdMs: number): string {
  return String(thresholdMs / 1000)
}

const BY = 'sum by (tenant, project, step)'

export interface RuleGroupFile {
  groups: { name: string; interval?: string; rules: Record<string, unknown>[] }[]
}

/** The rule file for one project's SLOs. */
export function prometheusRules(o: { tenant: string; project: string; slos: StepSlo[]; policy?: SloPolicy }): RuleGroupFile {
  const policy = o.policy ?? DEFAULT_POLICY
  const windows = [...new Set(policy.rules.flatMap((r) => [r.longSecs, r.shortSecs]))].sort((a, b) => a - b)
  const groups: RuleGroupFile['groups'] = []
  for (const { step, spec } of o.slos) {
    const labels = { tenant: o.tenant, project: o.project, step }
    const slis: { sli: 'errors' | 'latency'; target: number; bad: (w: string) => string; count: string }[] = []
    if (spec.errors) {
      const total = `cfp_step_invocations_total${selector(labels)}`
      slis.push({
        sli: 'errors',
        target: spec.errors.target,
        bad: (w) =>
          `(${BY} (rate(cfp_step_invocations_total${selector(labels, 'outcome!="ok"')}[${w}])) or ${BY} (rate(${total}[${w}])) * 0) / ${BY} (rate(${total}[${w}]))`,
        count: total,
      })
    }
    if (spec.latency) {
      const count = `cfp_step_duration_seconds_count${selector(labels)}`
      // Whole seconds are written `1` by some clients and `1.0` by others (Rust prometheus-client): match both.
      const leMatch =
        spec.latency.thresholdMs % 1000 === 0
          ? `le=~${JSON.stringify(`${leLabel(spec.latency.thresholdMs)}(\\.0)?`)}`
          : `le=${JSON.stringify(leLabel(spec.latency.thresholdMs))}`
      const le = `cfp_step_duration_seconds_bucket${selector(labels, leMatch)}`
      slis.push({
        sli: 'latency',
        target: spec.latency.target,
        bad: (w) => `1 - (${BY} (rate(${le}[${w}])) / ${BY} (rate(${count}[${w}])))`,
        count,
      })
    }
    const rules: Record<string, unknown>[] = []
    for (const s of slis) {
      for (const w of windows) {
        rules.push({ record: `cfp_slo:bad_ratio:rate${promDuration(w)}`, expr: s.bad(promDuration(w)), labels: { ...labels, sli: s.sli } })
      }
      const minEvents = spec.minEvents ?? policy.minEvents
      const allowed = 1 - s.target
      for (const r of policy.rules) {
        const long = `cfp_slo:bad_ratio:rate${promDuration(r.longSecs)}${selector({ ...labels, sli: s.sli })}`
        const short = `cfp_slo:bad_ratio:rate${promDuration(r.shortSecs)}${selector({ ...labels, sli: s.sli })}`
        const threshold = Number((r.factor * allowed).toPrecision(12))
        rules.push({
          alert: 'CFPStepSLOBurn',
          expr:
            `${long} > ${threshold} and ${short} > ${threshold}` +
            ` and on (tenant, project, step) ${BY} (increase(${s.count}[${promDuration(r.longSecs)}])) >= ${minEvents}`,
          ...(r.forSecs > 0 ? { for: promDuration(r.forSecs) } : {}),
          labels: { severity: r.severity, slo_rule: r.name, ...labels, sli: s.sli },
          annotations: {
            summary: `${step}: ${s.sli} budget burning over ${r.factor}x (${promDuration(r.longSecs)} and ${promDuration(r.shortSecs)})`,
          },
        })
      }
    }
    groups.push({ name: `cfp-slo-${o.tenant}-${o.project}-${step}`, rules })
  }
  return { groups }
}

/** A latency SLO whose threshold is not a bound of the runtime's histogram, with the bounds either side of it. */
export interface MissingBucket {
  step: string
  thresholdMs: number
  /** The largest bound below the threshold and the smallest above (seconds), when there is one. */
  below?: number
  above?: number
}

/**
 * The latency SLOs the rules cannot measure: `cfp_step_duration_seconds_bucket{le}` exists only for the bounds the
 * runtime's histogram was built with (fixed at its start: the built-in ones and `--metrics-extra-buckets`), so a
 * threshold between two bounds would select no series and its SLI would never be computed.
 */
export function missingBuckets(slos: readonly StepSlo[], bucketsSeconds: readonly number[]): MissingBucket[] {
  const sorted = [...bucketsSeconds].sort((a, b) => a - b)
  const out: MissingBucket[] = []
  for (const { step, spec } of slos) {
    if (!spec.latency) continue
    const t = spec.latency.thresholdMs / 1000
    // the runtime writes each bound as a float: compare with a relative tolerance, not ==
    if (sorted.some((b) => Math.abs(b - t) <= 1e-9 * Math.max(1, t))) continue
    const below = sorted.filter((b) => b < t).at(-1)
    const above = sorted.find((b) => b > t)
    out.push({ step, thresholdMs: spec.latency.thresholdMs, ...(below === undefined ? {} : { below }), ...(above === undefined ? {} : { above }) })
  }
  return out
}

/** One line per missing bucket: the step, the threshold and the nearest bounds. */
export function describeMissing(m: MissingBucket): string {
  const near = [m.below, m.above].filter((b): b is number => b !== undefined).map((b) => `${b} s`)
  return (
    `step ${JSON.stringify(m.step)}: latency threshold ${m.thresholdMs} ms (le="${leLabel(m.thresholdMs)}") is not a bucket of ` +
    `cfp_step_duration_seconds on this runtime; nearest buckets: ${near.join(' and ') || 'none'}`
  )
}
