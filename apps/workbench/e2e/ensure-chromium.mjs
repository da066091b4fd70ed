#!/usr/bin/env node
// Makes sure Debian's Chromium is installed for the browser tests (CI machines start fresh). Never downloads
// Playwright's own browsers: playwright-core drives the system Chromium.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
if (existsSync(path)) process.exit(0)

console.log(`${path} is missing: installing Debian's chromium package…`)
const root = typeof process.getuid === 'function' && process.getuid() === 0
const sudo = root ? [] : ['sudo']
const run = (args) => {
  const [cmd, ...rest] = [...sudo, ...args]
  execFileSync(cmd, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
}
try {
  run(['apt-get', 'update'])
  run(['apt-get', 'install', '-y', '--no-install-recommends', 'chromium'])
} catch (e) {
  console.error(`Could not install chromium (${e.message}). Install it yourself (apt-get install chromium) or set CHROMIUM_PATH.`)
  process.exit(1)
}
if (!existsSync(path)) {
  console.error(`chromium was installed but ${path} does not exist; set CHROMIUM_PATH to its binary.`)
  process.exit(1)
}
