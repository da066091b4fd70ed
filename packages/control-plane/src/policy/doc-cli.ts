#!/usr/bin/env node
/** Writes docs/permissions.md (beside policy/) from policy/permissions.json. `--check` exits 1 when stale. */
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { renderPermissionsDoc } from './doc.js'
import { findPolicyFile, loadPolicy } from './load.js'

const file = process.env.CFP_POLICY_FILE || findPolicyFile()
const target = join(dirname(dirname(file)), 'docs', 'permissions.md')
const text = renderPermissionsDoc(loadPolicy(file))
if (process.argv.includes('--check')) {
  let current = ''
  try {
    current = readFileSync(target, 'utf8')
  } catch {
    // missing counts as stale
  }
  if (current !== text) {
    console.error(`${target} is stale: run npm run docs:permissions -w packages/control-plane`)
    process.exit(1)
  }
} else {
  writeFileSync(target, text)
  console.log(`wrote ${target}`)
}
