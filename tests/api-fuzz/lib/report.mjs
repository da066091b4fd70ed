/**
 * Reads schemathesis' JUnit report into one verdict per operation and prints the summary: a line per
 * operation, the control plane's logged errors when anything failed, and a vitest-style
 * `Tests  N passed | M failed (T)` line that scripts/test.sh counts.
 */
import { existsSync, readFileSync } from 'node:fs'

const unescape = (s) =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d))).replace(/&amp;/g, '&')

/** @returns {{ name: string, status: 'passed' | 'failed' | 'error' | 'skipped', message: string }[]} */
export function readJunit(file) {
  if (!existsSync(file)) return []
  const xml = readFileSync(file, 'utf8')
  const ops = []
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const name = unescape(/\bname="([^"]*)"/.exec(m[1])?.[1] ?? '?')
    const inner = m[3] ?? ''
    const kind = /<(failure|error|skipped)\b/.exec(inner)?.[1]
    const status = kind === 'failure' ? 'failed' : kind === 'error' ? 'error' : kind === 'skipped' ? 'skipped' : 'passed'
    const message = unescape(/<(?:failure|error|skipped)\b[^>]*?message="([^"]*)"/.exec(inner)?.[1] ?? '')
    ops.push({ name, status, message })
  }
  return ops
}

/** Prints the summary; returns the number of operations that failed or errored. */
export function printSummary(ops, { seed, seconds, serverErrors }) {
  const count = (s) => ops.filter((o) => o.status === s).length
  const passed = count('passed')
  const failed = count('failed') + count('error')
  console.log('\napi-fuzz: per operation')
  for (const o of ops) {
    const why = o.status === 'passed' ? '' : `  ${o.message.split('\n')[0].slice(0, 160)}`
    console.log(`  ${o.status.padEnd(7)} ${o.name}${why}`)
  }
  if (failed > 0 && serverErrors.length > 0) {
    console.log('\napi-fuzz: errors the control plane logged (first 5):')
    for (const line of serverErrors.slice(0, 5)) {
      try {
        const e = JSON.parse(line)
        console.log(`  ${e.reqId ?? ''} ${e.msg}: ${e.err?.stack?.split('\n').slice(0, 4).join(' | ') ?? ''}`)
      } catch {
        console.log(`  ${line.slice(0, 400)}`)
      }
    }
  }
  if (failed > 0) console.log(`\napi-fuzz: reproduce with the curl commands above, or rerun with API_FUZZ_SEED=${seed}`)
  console.log(`\n      Tests  ${passed} passed | ${failed} failed | ${count('skipped')} skipped (${ops.length})`)
  console.log(`   Duration  ${seconds.toFixed(1)}s (seed ${seed})`)
  return failed
}
