/**
 * `cfp slo status|rules|export|import`: a project's SLOs through the runtime API (docs/slo.md).
 * - `status`: each SLI's value, budget remaining and open alerts.
 * - `rules`: Prometheus recording and alerting rules equivalent to the built-in evaluator (YAML).
 * - `export`: OpenSLO v1 YAML; `import <file>`: sets the project's overrides from OpenSLO YAML.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'
import { fromOpenSlo, OpenSloError, toOpenSlo } from '../slo/openslo.js'
import { describeMissing, leLabel, missingBuckets, prometheusRules, type SloPolicy, type StepSlo } from '../slo/rules.js'
import { resolveTarget } from '../util/dev-file.js'
import { CliError } from '../util/errors.js'
import type { CommandIo } from '../util/io.js'
import { RuntimeApi } from '../util/runtime-api.js'
import { renderTable } from '../util/table.js'

interface Options {
  dir?: string
}

/** `GET /__cfp/api/slo` as the runtime answers it. */
export interface SloStatusBody {
  tenant: string
  project: string
  now: number
  policy: SloPolicy
  slos: {
    step: string
    source: string
    spec: StepSlo['spec']
    slis: { sli: string; target: number; value: number | null; budgetRemaining: number; total: number; bad: number }[]
    alerts: { rule: string; sli: string; state: string; severity: string }[]
  }[]
  /** The runtime's histogram `cfp_step_duration_seconds`: its bounds, fixed at its start. */
  metrics?: { enabled: boolean; durationBucketsSeconds: number[] }
}

function api(opts: Options, io: CommandIo): RuntimeApi {
  const target = resolveTarget({ dir: resolve(io.cwd, opts.dir ?? '.'), env: io.env })
  return new RuntimeApi(target, io.fetch)
}

async function status(opts: Options, io: CommandIo): Promise<SloStatusBody> {
  const body = await api(opts, io).request<SloStatusBody>('GET', '/__cfp/api/slo')
  if (!body || !Array.isArray(body.slos)) throw new CliError('the runtime answered GET /__cfp/api/slo without `slos`; is it a CFP runtime of the same version?')
  return body
}

/** The tenant and project the rules name: the ones the runtime answered for. */
function names(body: SloStatusBody): { tenant: string; project: string } {
  return { tenant: body.tenant, project: body.project }
}

export async function runSloStatus(opts: Options & { json?: boolean }, io: CommandIo): Promise<SloStatusBody> {
  const body = await status(opts, io)
  if (opts.json) {
    io.out(JSON.stringify(body, null, 2))
    return body
  }
  const rows = body.slos.flatMap((s) => s.slis.map((sli) => ({ s, sli })))
  if (rows.length === 0) {
    io.out('No SLOs: add `slo` to a step config (docs/slo.md).')
    return body
  }
  const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(3)}%`)
  io.out(
    renderTable(rows, [
      { header: 'step', get: (r) => r.s.step, maxWidth: 32 },
      { header: 'sli', get: (r) => r.sli.sli },
      { header: 'target', get: (r) => pct(r.sli.target) },
      { header: 'value', get: (r) => pct(r.sli.value) },
      { header: 'budget left', get: (r) => pct(r.sli.budgetRemaining) },
      {
        header: 'alerts',
        get: (r) =>
          r.s.alerts
            .filter((a) => a.sli === r.sli.sli)
            .map((a) => `${a.rule} ${a.state}`)
            .join(', '),
      },
    ]),
  )
  return body
}

/**
 * Refuses rules that could not work: a latency SLI reads the histogram bucket whose `le` is the threshold, and
 * the runtime's buckets are fixed when it starts (docs/metrics.md), so every threshold must be one of the bounds
 * the runtime reports. Nothing is printed then: a partial rule file would silently drop an SLO.
 */
function checkBuckets(body: SloStatusBody, slos: StepSlo[], io: CommandIo): void {
  const m = body.metrics
  if (!m || !Array.isArray(m.durationBucketsSeconds)) {
    throw new CliError('the runtime answered GET /__cfp/api/slo without `metrics.durationBucketsSeconds`', {
      explanation: 'Latency thresholds are checked against the histogram buckets the runtime reports.',
      action: 'Use a cfp-runtime of the same version as this CLI.',
    })
  }
  if (!m.enabled) io.err('warning: this runtime runs with --metrics off: it serves no /metrics for these rules to read')
  const missing = missingBuckets(slos, m.durationBucketsSeconds)
  if (missing.length > 0) {
    const add = [...new Set(missing.map((x) => leLabel(x.thresholdMs)))].join(',')
    throw new CliError(
      `cannot write rules for ${missing.length} latency SLO${missing.length === 1 ? '' : 's'}:\n  ${missing.map(describeMissing).join('\n  ')}`,
      {
        explanation: 'A latency SLI counts the histogram bucket whose upper bound is the threshold; without that bucket its rules never fire.',
        action: `Start every runtime with --metrics-extra-buckets ${add} (CFP_METRICS_EXTRA_BUCKETS), or pick a threshold among the buckets.`,
      },
    )
  }
}

export async function runSloRules(opts: Options, io: CommandIo): Promise<string> {
  const body = await status(opts, io)
  checkBuckets(
    body,
    body.slos.map((s) => ({ step: s.step, spec: s.spec })),
    io,
  )
  const yaml = stringify(prometheusRules({ ...names(body), slos: body.slos.map((s) => ({ step: s.step, spec: s.spec })), policy: body.policy }))
  io.out(yaml)
  return yaml
}

export async function runSloExport(opts: Options, io: CommandIo): Promise<string> {
  const body = await status(opts, io)
  const docs = toOpenSlo({ ...names(body), slos: body.slos.map((s) => ({ step: s.step, spec: s.spec })) })
  const yaml = docs.map((d) => stringify(d)).join('---\n')
  io.out(yaml)
  return yaml
}

export async function runSloImport(file: string, opts: Options, io: CommandIo): Promise<StepSlo[]> {
  const text = readFileSync(resolve(io.cwd, file), 'utf8')
  const parsed = parseAllDocuments(text)
  const docs = (Array.isArray(parsed) ? parsed : [parsed]).map((d, i) => {
    if (d.errors.length > 0) throw new CliError(`${file}: document ${i + 1}: ${d.errors[0]?.message}`)
    return d.toJS() as unknown
  })
  let slos: StepSlo[]
  try {
    slos = fromOpenSlo(docs)
  } catch (e) {
    if (e instanceof OpenSloError) throw new CliError(`${file}: ${e.message}`)
    throw e
  }
  const client = api(opts, io)
  for (const s of slos) {
    await client.request('PUT', `/__cfp/api/slo/${encodeURIComponent(s.step)}`, s.spec)
    io.out(`set the SLO of ${s.step}`)
  }
  return slos
}
