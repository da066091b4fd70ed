/**
 * The generated Prometheus rules are valid (`promtool check rules`) and behave like the built-in evaluator on a
 * fast error burn, a latency burn, a healthy step and a quiet one (`promtool test rules`); OpenSLO round-trips.
 * promtool comes from the Debian package `prometheus`: installed here when missing and apt is usable (root or
 * passwordless sudo), otherwise the promtool tests are skipped with a message saying why.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'
import { afterAll, describe, expect, it } from 'vitest'
import { fromOpenSlo, OpenSloError, toOpenSlo } from './openslo.js'
import { DEFAULT_POLICY, prometheusRules, type StepSlo } from './rules.js'

function havePromtool(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0
}

/** Installs promtool when missing; returns why it is unavailable, or null. */
function ensurePromtool(): string | null {
  if (havePromtool()) return null
  const root = process.getuid?.() === 0
  const sudo = !root && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0
  if (!root && !sudo) return 'promtool is missing and apt-get needs root or passwordless sudo'
  const run = (args: string[]) =>
    spawnSync(root ? args[0]! : 'sudo', root ? args.slice(1) : ['-n', ...args], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 300_000,
    }).status === 0
  if (!run(['apt-get', 'update', '-qq']) || !run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'prometheus'])) {
    return 'installing the Debian package prometheus (promtool) failed'
  }
  return havePromtool() ? null : 'promtool is still missing after installing prometheus'
}

const slos: StepSlo[] = [
  { step: 'fast', spec: { window: '28d', errors: { target: 0.999 } } },
  { step: 'healthy', spec: { window: '28d', errors: { target: 0.999 } } },
  { step: 'quiet', spec: { window: '28d', errors: { target: 0.999 } } },
  { step: 'lat', spec: { window: '28d', latency: { thresholdMs: 500, target: 0.99 } } },
]

const dir = mkdtempSync(join(tmpdir(), 'cfp-slo-rules-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const unavailable = ensurePromtool()
if (unavailable) console.warn(`SKIPPED promtool tests: ${unavailable}`)

describe.skipIf(unavailable !== null)('generated Prometheus rules (promtool)', () => {
  const rulesFile = join(dir, 'rules.yml')
  writeFileSync(rulesFile, stringify(prometheusRules({ tenant: 't1', project: 'p1', slos })))

  it('pass promtool check rules', () => {
    const r = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8', timeout: 30_000 })
    const out = r.stdout + r.stderr
    expect(out).toContain('SUCCESS: 32 rules found')
    expect(out).not.toContain('inconsistency')
    expect(r.status).toBe(0)
  })

  it('fire like the built-in evaluator (promtool test rules)', () => {
    const labels = (step: string, extra = '') => `{tenant="t1",project="p1",step="${step}"${extra}}`
    const alert = (step: string, sli: string, rule: string, factor: number, long: string, short: string) => ({
      exp_labels: { severity: 'page', slo_rule: rule, sli, tenant: 't1', project: 'p1', step },
      exp_annotations: { summary: `${step}: ${sli} budget burning over ${factor}x (${long} and ${short})` },
    })
    const test = {
      rule_files: ['rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            // fast: 20 % of 1,000 attempts a minute fail (a 200x burn of a 99.9 % target)
            { series: `cfp_step_invocations_total${labels('fast', ',outcome="ok"')}`, values: '0+800x60' },
            { series: `cfp_step_invocations_total${labels('fast', ',outcome="handler_error"')}`, values: '0+200x60' },
            // healthy: no failure
            { series: `cfp_step_invocations_total${labels('healthy', ',outcome="ok"')}`, values: '0+1000x60' },
            // quiet: one failing attempt every ten minutes: never enough events to alert
            { series: `cfp_step_invocations_total${labels('quiet', ',outcome="handler_error"')}`, values: '0+0.1x60' },
            // lat: 90 % of attempts slower than 500 ms (a 90x burn of a 99 % target)
            { series: `cfp_step_duration_seconds_bucket${labels('lat', ',le="0.5"')}`, values: '0+100x60' },
            { series: `cfp_step_duration_seconds_bucket${labels('lat', ',le="+Inf"')}`, values: '0+1000x60' },
            { series: `cfp_step_duration_seconds_count${labels('lat')}`, values: '0+1000x60' },
          ],
          alert_rule_test: [
            // 1 min in: the condition holds but page-fast waits its 2 min
            { eval_time: '1m', alertname: 'CFPStepSLOBurn', exp_alerts: [] },
            {
              eval_time: '10m',
              alertname: 'CFPStepSLOBurn',
              exp_alerts: [alert('fast', 'errors', 'page-fast', 14.4, '1h', '5m'), alert('lat', 'latency', 'page-fast', 14.4, '1h', '5m')],
            },
            {
              eval_time: '30m',
              alertname: 'CFPStepSLOBurn',
              exp_alerts: [
                alert('fast', 'errors', 'page-fast', 14.4, '1h', '5m'),
                alert('fast', 'errors', 'page-slow', 6, '6h', '30m'),
                alert('lat', 'latency', 'page-fast', 14.4, '1h', '5m'),
                alert('lat', 'latency', 'page-slow', 6, '6h', '30m'),
              ],
            },
          ],
        },
      ],
    }
    writeFileSync(join(dir, 'test.yml'), stringify(test))
    const r = spawnSync('promtool', ['test', 'rules', 'test.yml'], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
    expect(r.stdout + r.stderr).toContain('SUCCESS')
    expect(r.status).toBe(0)
  })
})

describe('rules', () => {
  it('record each window once per SLI and alert once per SLI and burn rule', () => {
    const file = prometheusRules({ tenant: 't1', project: 'p1', slos })
    expect(file.groups).toHaveLength(4)
    const fast = file.groups[0]!.rules
    const windows = new Set(DEFAULT_POLICY.rules.flatMap((r) => [r.longSecs, r.shortSecs]))
    expect(fast.filter((r) => 'record' in r)).toHaveLength(windows.size)
    expect(fast.filter((r) => 'alert' in r)).toHaveLength(DEFAULT_POLICY.rules.length)
    const ticket = fast.find((r) => (r.labels as { slo_rule?: string } | undefined)?.slo_rule === 'ticket')!
    expect(ticket.expr).toContain('> 0.001 and')
    expect(ticket.expr).toContain('[3d])) >= 100')
    expect(ticket.for).toBe('1h')
  })

  it('match a whole-second threshold however the histogram writes it (1 or 1.0)', () => {
    const file = prometheusRules({ tenant: 't', project: 'p', slos: [{ step: 's', spec: { window: '28d', latency: { thresholdMs: 1000, target: 0.9 } } }] })
    expect(String(file.groups[0]!.rules[0]!.expr)).toContain('le=~"1(\\\\.0)?"')
  })

  it('quote label values so a hostile step name cannot change the query', () => {
    const file = prometheusRules({ tenant: 't1', project: 'p1', slos: [{ step: 'a"}) or vector(1) #', spec: { window: '28d', errors: { target: 0.99 } } }] })
    const expr = String(file.groups[0]!.rules[0]!.expr)
    expect(expr).toContain('step="a\\"}) or vector(1) #"')
  })
})

describe('OpenSLO', () => {
  it('round-trips every field through YAML', () => {
    const input: StepSlo[] = [
      {
        step: 'ChargeCard',
        spec: { name: 'charge', description: 'cards', window: '7d', latency: { thresholdMs: 250, target: 0.95 }, errors: { target: 0.999 }, minEvents: 20 },
      },
      { step: 'b', spec: { window: '28d', errors: { target: 0.99 } } },
    ]
    const yaml = toOpenSlo({ tenant: 't1', project: 'p1', slos: input })
      .map((d) => stringify(d))
      .join('---\n')
    const docs = parseAllDocuments(yaml).map((d) => d.toJS())
    expect(docs).toHaveLength(3)
    expect(fromOpenSlo(docs)).toEqual(input)
  })

  it('refuses what does not map, naming the document and the field', () => {
    const doc = toOpenSlo({ tenant: 't', project: 'p', slos: [{ step: 's', spec: { window: '28d', errors: { target: 0.9 } } }] })[0]!
    const bad = { ...doc, spec: { ...doc.spec, budgetingMethod: 'Timeslices' } }
    expect(() => fromOpenSlo([bad])).toThrow(OpenSloError)
    expect(() => fromOpenSlo([bad])).toThrow('`s-errors`: spec.budgetingMethod')
    const noStep = { ...doc, metadata: { name: 'x' } }
    expect(() => fromOpenSlo([noStep])).toThrow('metadata.labels.cfp-step')
    expect(fromOpenSlo([{ kind: 'Service', apiVersion: 'openslo/v1' }])).toEqual([])
  })
})
