#!/usr/bin/env node
// Audit append throughput of the Rust runtime against plain INSERTs of the same rows, in one run (issue 10):
// 100 tenants × 8 writers, and one hot tenant. Targets: ratio ≥ 0.5 and ≥ 5,000 appends/s.
// Runs crates/store/examples/audit_bench.rs (release build) against CFP_TEST_DATABASE_URL.
//   node bench/audit.mjs [rows per writer, default 10] [--debug]
import { spawnSync } from 'node:child_process'

const per = process.argv.find((a) => /^\d+$/.test(a)) ?? '10'
const profile = process.argv.includes('--debug') ? [] : ['--release']
const run = spawnSync('cargo', ['run', '-q', ...profile, '-p', 'cfp-store', '--example', 'audit_bench', '--', per], {
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
})
process.stdout.write(run.stdout)
if (run.status !== 0) process.exit(run.status ?? 1)
const last = run.stdout.trim().split('\n').at(-1)
const { audit } = JSON.parse(last)
let ok = true
for (const r of audit) {
  const pass = r.ratio >= 0.5 && r.appends_per_s >= 5000
  if (!pass) ok = false
  console.log(`${pass ? 'PASS' : 'FAIL'} ${r.case}: ${r.appends_per_s}/s (ratio ${r.ratio}; targets ≥ 5000/s, ≥ 0.5)`)
}
process.exit(ok ? 0 : 1)
