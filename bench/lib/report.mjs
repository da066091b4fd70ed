// The benchmark report of bench/run.mjs: one table row per metric, each target marked PASS or MISS.

/** The highest `other` CPU (cores used by processes outside the benchmark) seen in each benchmark's phases. */
export function backgroundLoad(results, benches) {
  const out = {}
  const walk = (v, acc) => {
    if (!v || typeof v !== 'object') return
    if (typeof v.other === 'number' && typeof v.machine === 'number') acc.push(v.other)
    for (const x of Object.values(v)) walk(x, acc)
  }
  for (const b of benches) {
    if (!results[b]) continue
    const acc = []
    walk(results[b], acc)
    out[b] = acc.length ? Math.max(...acc) : null
  }
  return out
}

export function fmt(v, unit = '') {
  if (v === null || v === undefined) return '-'
  if (typeof v === 'number') return `${v.toLocaleString('en-US', { maximumFractionDigits: 2 })}${unit}`
  return String(v)
}

function verdict(ok) {
  return ok === null ? '' : ok ? 'PASS' : 'MISS'
}

export function report(results, TARGETS) {
  const rows = []
  const add = (bench, metric, value, target = '', ok = null) => rows.push([bench, metric, value, target, verdict(ok)])
  const pgText = (p) =>
    p
      ? `${p.activeBackends} active: ${Object.entries(p.byActivity).slice(0, 4).map(([k, v]) => `${k} ${v}`).join(', ')}` +
        `; top: ${Object.entries(p.byStatement).slice(0, 3).map(([k, v]) => `${k} ${v}`).join('; ')}`
      : '-'
  const cpuText = (c) => (c ? Object.entries(c).filter(([k]) => k !== 'seconds').map(([k, v]) => `${k} ${v}`).join(', ') : '-')
  const a = results.api
  if (a) {
    const n = a.rounds.length
    const med = n > 1 ? `median of ${n}: ` : ''
    add('api', `bare node: max rps`, `${med}${fmt(a.bare.maxRps)}`)
    add('api', `CFP: max rps`, `${med}${fmt(a.cfp.maxRps)}`)
    add('api', 'ratio CFP/bare (max rps)', `${med}${fmt(a.ratio)}${n > 1 ? ` (rounds: ${a.ratios.join(', ')})` : ''}`, `>= ${TARGETS.apiRatio}`, a.ratio >= TARGETS.apiRatio)
    add('api', 'bare node: p50 / p99 at max', `${fmt(a.bare.maxP50Ms)} / ${fmt(a.bare.maxP99Ms)} ms`)
    add('api', 'CFP: p50 / p99 at max', `${fmt(a.cfp.maxP50Ms)} / ${fmt(a.cfp.maxP99Ms)} ms`)
    add('api', `bare node: p50 / p99 at half rate (${fmt(a.bare.halfRate)}/s)`, `${fmt(a.bare.halfP50Ms)} / ${fmt(a.bare.halfP99Ms)} ms`)
    add(
      'api',
      `CFP: p50 / p99 at half rate (${fmt(a.cfp.halfRate)}/s)`,
      `${med}${fmt(a.cfp.halfP50Ms)} / ${fmt(a.cfp.halfP99Ms)} ms (best p99 ${fmt(a.cfp.bestHalfP99Ms)})`,
      `p99 < ${TARGETS.apiHalfRateP99Ms} ms`,
      a.cfp.halfP99Ms < TARGETS.apiHalfRateP99Ms,
    )
    add('api', 'errors (bare, CFP)', `${a.bare.errors}, ${a.cfp.errors}`)
    add('api', 'CPU cores, CFP at max (last round)', cpuText(a.cfp.maxCpu))
    add('api', 'CPU cores, bare at max (last round)', cpuText(a.bare.maxCpu))
    add('api', 'CPU cores, CFP at half rate', cpuText(a.cfp.halfCpu))
    if (a.cfp.maxPg) add('api', 'PG backends, CFP at max', pgText(a.cfp.maxPg))
    if (a.otlp) {
      const o = a.otlp
      add('api', 'CFP export on (OTLP spans+logs, /metrics every 1 s): max rps', `${med}${fmt(o.maxRps)}`)
      add('api', 'ratio export on / bare (max rps)', `${med}${fmt(o.vsBare)}`, `>= ${TARGETS.apiOtlpVsBare}`, o.vsBare >= TARGETS.apiOtlpVsBare)
      add('api', 'ratio export on / export off (max rps)', `${med}${fmt(o.vsOff)}`, `>= ${TARGETS.apiOtlpVsOff}`, o.vsOff >= TARGETS.apiOtlpVsOff)
      add('api', 'export on: p50 / p99 at max', `${fmt(o.maxP50Ms)} / ${fmt(o.maxP99Ms)} ms`)
      add('api', 'export on: exported / dropped spans', `${fmt(o.exportedSpans)} / ${fmt(o.droppedSpans)}`)
      add('api', 'export on: scrapes (failed, slowest)', `${o.scrapes?.scrapes} (${o.scrapes?.failures}, ${o.scrapes?.maxMs} ms)`)
      add('api', 'CPU cores, export on at max (last round)', cpuText(o.maxCpu))
    }
  }
  const c = results.chain
  if (c) {
    const m = c.max
    const s = c.sustained
    add('chain', 'max: API accepted rps (p99)', `${fmt(m.api.rps)} (${fmt(m.api.p99Ms)} ms)`)
    add('chain', 'max: chains completed', `${fmt(m.chains)} (lost ${m.lost}, API errors ${m.api.errors})`)
    add('chain', 'max: completed chains/s', fmt(m.chainsPerSec))
    add('chain', 'max: durable step executions/s', fmt(m.execPerSec), `>= ${TARGETS.chainExecPerSec}`, m.execPerSec >= TARGETS.chainExecPerSec)
    add('chain', '  during load / after load (drain)', `${fmt(m.execPerSecDuringLoad)} / ${fmt(m.execPerSecAfterLoad)}`)
    add('chain', 'max: backlog at load end, drain time', `${fmt(m.backlogAtLoadEnd)}, ${fmt(m.drain.seconds)} s`)
    add('chain', 'max: e2e p50 / p99 (incl. backlog)', `${fmt(m.e2eP50Ms)} / ${fmt(m.e2eP99Ms)} ms`)
    add('chain', 'CPU cores, max load', cpuText(m.cpuDuringLoad))
    add('chain', 'CPU cores, drain', cpuText(m.cpuDuringDrain))
    add('chain', `sustained: target / achieved API rps`, `${fmt(s.targetRate)} / ${fmt(s.api.rps)}`)
    add('chain', 'sustained: e2e p50 / p90 / p99', `${fmt(s.e2eP50Ms)} / ${fmt(s.e2eP90Ms)} / ${fmt(s.e2eP99Ms)} ms`)
    add('chain', 'sustained: API p50 / p99', `${fmt(s.api.p50Ms)} / ${fmt(s.api.p99Ms)} ms`)
    add('chain', 'sustained: executions/s, backlog at end', `${fmt(s.execPerSec)}, ${fmt(s.backlogAtLoadEnd)} (lost ${s.lost})`)
    add('chain', 'CPU cores, sustained', cpuText(s.cpuDuringLoad))
    if (c.backlog) {
      const b = c.backlog
      add('chain', `backlog (${fmt(b.events)} events, no HTTP): executions/s`, `${fmt(b.execPerSec)} (${fmt(b.chainsPerSec)} chains/s, ${fmt(b.drain.seconds)} s)`)
      add('chain', 'CPU cores, backlog', cpuText(b.cpu))
    }
    add('chain', 'PG backends, max load', pgText(m.pgDuringLoad))
    if (c.backlog) add('chain', 'PG backends, backlog', pgText(c.backlog.pg))
    add('chain', 'dead letters', fmt(c.deadLetters))
  }
  const q = results.seq40
  if (q) {
    add('seq40', `median of ${q.runs.length} runs (trigger -> Seq40 done)`, fmt(q.medianMs, ' ms'), `< ${TARGETS.seq40MedianMs} ms`, q.medianMs < TARGETS.seq40MedianMs)
    add('seq40', 'best / worst', `${fmt(q.bestMs)} / ${fmt(q.worstMs)} ms`)
    add('seq40', 'server-side median (DB timestamps)', fmt(q.serverMedianMs, ' ms'))
    add('seq40', 'median per hop', fmt(q.hopMedianMs, ' ms'))
    add('seq40', 'CPU cores', cpuText(q.cpu))
    add('seq40', 'PG backends', pgText(q.pg))
  }
  const head = ['benchmark', 'metric', 'value', 'target', '']
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (r) => r.map((v, i) => String(v).padEnd(w[i])).join('  ').trimEnd()
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n')
}
