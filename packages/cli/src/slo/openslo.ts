/**
 * OpenSLO v1 (`apiVersion: openslo/v1`, `kind: SLO`) to and from CFP's step SLOs (docs/slo.md "OpenSLO"): one
 * document per step and SLI; import merges a step's documents back into one SLO and refuses, naming the document
 * and the field, what does not map.
 */
import { leLabel, type StepSlo, type SloSpec } from './rules.js'

export interface OpenSloDoc {
  apiVersion: string
  kind: string
  metadata: { name: string; displayName?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  spec: Record<string, unknown>
}

const STEP_LABEL = 'cfp-step'
const MIN_EVENTS = 'cfp-min-events'

/** A DNS-label-like name for a step (OpenSLO names are RFC 1123 labels). */
function docName(step: string, sli: string): string {
  const base = step
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50)
  return `${base || 'step'}-${sli}`
}

export function toOpenSlo(o: { tenant: string; project: string; slos: StepSlo[] }): OpenSloDoc[] {
  const docs: OpenSloDoc[] = []
  for (const { step, spec } of o.slos) {
    const labels = { tenant: o.tenant, project: o.project, step }
    const sel = (extra: Record<string, string> = {}) =>
      `{${Object.entries({ ...labels, ...extra })
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}}`
    const common = (sli: string, target: number, indicator: Record<string, unknown>, objective: Record<string, unknown>): OpenSloDoc => ({
      apiVersion: 'openslo/v1',
      kind: 'SLO',
      metadata: {
        name: docName(step, sli),
        ...(spec.name ? { displayName: spec.name } : {}),
        labels: { [STEP_LABEL]: step, 'cfp-sli': sli },
        ...(spec.minEvents !== undefined ? { annotations: { [MIN_EVENTS]: String(spec.minEvents) } } : {}),
      },
      spec: {
        ...(spec.description ? { description: spec.description } : {}),
        service: o.project,
        indicator: { metadata: { name: `${docName(step, sli)}-sli` }, spec: indicator },
        timeWindow: [{ duration: spec.window, isRolling: true }],
        budgetingMethod: 'Occurrences',
        objectives: [{ ...objective, target: target }],
      },
    })
    if (spec.errors) {
      docs.push(
        common(
          'errors',
          spec.errors.target,
          {
            ratioMetric: {
              counter: true,
              good: { metricSource: { type: 'Prometheus', spec: { query: `cfp_step_invocations_total${sel({ outcome: 'ok' })}` } } },
              total: { metricSource: { type: 'Prometheus', spec: { query: `cfp_step_invocations_total${sel()}` } } },
            },
          },
          { displayName: 'attempts that end ok' },
        ),
      )
    }
    if (spec.latency) {
      const le = leLabel(spec.latency.thresholdMs)
      docs.push(
        common(
          'latency',
          spec.latency.target,
          {
            ratioMetric: {
              counter: true,
              good: { metricSource: { type: 'Prometheus', spec: { query: `cfp_step_duration_seconds_bucket${sel({ le })}` } } },
              total: { metricSource: { type: 'Prometheus', spec: { query: `cfp_step_duration_seconds_count${sel()}` } } },
            },
          },
          { displayName: `attempts within ${spec.latency.thresholdMs} ms`, op: 'lte', value: spec.latency.thresholdMs / 1000 },
        ),
      )
    }
  }
  return docs
}

export class OpenSloError extends Error {}

function fail(doc: string, field: string, why: string): never {
  throw new OpenSloError(`OpenSLO document \`${doc}\`: ${field}: ${why}`)
}

/** Reads CFP step SLOs back from OpenSLO documents (other kinds are skipped). */
export function fromOpenSlo(docs: unknown[]): StepSlo[] {
  const byStep = new Map<string, SloSpec>()
  for (const raw of docs) {
    if (raw === null || typeof raw !== 'object') continue
    const d = raw as Partial<OpenSloDoc>
    if (d.kind !== 'SLO') continue
    const name = typeof d.metadata?.name === 'string' ? d.metadata.name : '(unnamed)'
    if (d.apiVersion !== 'openslo/v1') fail(name, 'apiVersion', `expected openslo/v1, got ${JSON.stringify(d.apiVersion)}`)
    const step = d.metadata?.labels?.[STEP_LABEL]
    if (typeof step !== 'string' || step === '') fail(name, `metadata.labels.${STEP_LABEL}`, 'required: the step the SLO is for')
    const spec = (d.spec ?? {}) as Record<string, unknown>
    const windows = spec.timeWindow as { duration?: unknown; isRolling?: unknown }[] | undefined
    const w = windows?.[0]
    if (!w || typeof w.duration !== 'string' || !/^[1-9][0-9]?d$/.test(w.duration)) fail(name, 'spec.timeWindow[0].duration', 'must be whole days like 28d')
    if (w.isRolling !== true) fail(name, 'spec.timeWindow[0].isRolling', 'only rolling windows are supported')
    if (spec.budgetingMethod !== 'Occurrences') fail(name, 'spec.budgetingMethod', 'only Occurrences is supported')
    const objectives = spec.objectives as Record<string, unknown>[] | undefined
    if (!Array.isArray(objectives) || objectives.length !== 1) fail(name, 'spec.objectives', 'exactly one objective')
    const o = objectives[0] as Record<string, unknown>
    const target = o.target
    if (typeof target !== 'number' || !(target > 0 && target < 1)) fail(name, 'spec.objectives[0].target', 'a ratio like 0.999')
    const sli = d.metadata?.labels?.['cfp-sli'] ?? (o.op === 'lte' ? 'latency' : 'errors')
    const merged: SloSpec = byStep.get(step) ?? { window: w.duration }
    if (merged.window !== w.duration) fail(name, 'spec.timeWindow[0].duration', `differs from another SLO of step ${step} (${merged.window})`)
    if (d.metadata?.displayName) merged.name = d.metadata.displayName
    if (typeof spec.description === 'string') merged.description = spec.description
    const min = d.metadata?.annotations?.[MIN_EVENTS]
    if (min !== undefined) {
      if (!/^[0-9]+$/.test(min)) fail(name, `metadata.annotations.${MIN_EVENTS}`, 'a whole number')
      merged.minEvents = Number(min)
    }
    if (sli === 'latency') {
      if (o.op !== 'lte' || typeof o.value !== 'number') fail(name, 'spec.objectives[0].value', 'a latency objective needs op: lte and value in seconds')
      merged.latency = { thresholdMs: Math.round(o.value * 1000), target }
    } else if (sli === 'errors') {
      merged.errors = { target }
    } else {
      fail(name, 'metadata.labels.cfp-sli', `must be errors or latency, got ${sli}`)
    }
    byStep.set(step, merged)
  }
  return [...byStep.entries()].map(([step, spec]) => ({ step, spec }))
}
