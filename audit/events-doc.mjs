#!/usr/bin/env node
// Generates docs/audit-events.md from audit/events.json (the catalogue of audit event kinds, issue 10 §1).
//   node audit/events-doc.mjs          writes the doc
//   node audit/events-doc.mjs --check  exits 1 when the doc is stale
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const catalogueFile = join(here, 'events.json')
export const docFile = join(here, '..', 'docs', 'audit-events.md')

const cell = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ')

export function render(catalogue) {
  const kinds = catalogue.kinds
  const active = kinds.filter((k) => k.status === 'active')
  const reserved = kinds.filter((k) => k.status === 'reserved')
  const lines = [
    '# Audit event kinds',
    '',
    '<!-- Generated from audit/events.json by `node audit/events-doc.mjs`; do not edit by hand. -->',
    '',
    `${kinds.length} kinds (${active.length} in use, ${reserved.length} reserved). Every entry also has the members`,
    'docs/audit.md lists (actor, scope, outcome, request, sid); a refused request is recorded under the kind it',
    'attempted, with `outcome.status` `denied`. `details` never holds a secret.',
    '',
  ]
  const groups = new Map()
  for (const k of kinds) {
    const g = k.kind.split('.')[0]
    if (!groups.has(g)) groups.set(g, [])
    groups.get(g).push(k)
  }
  for (const [g, ks] of groups) {
    lines.push(`## ${g}`, '', '| kind | plane | target | description | details |', '|---|---|---|---|---|')
    for (const k of ks) {
      const details = Object.entries(k.details)
        .map(([name, t]) => `\`${name}\`: ${t}`)
        .join('; ')
      const desc = k.status === 'reserved' ? `*reserved* — ${k.description}` : k.description
      lines.push(`| \`${k.kind}\` | ${cell(k.plane)} | ${cell(k.target)} | ${cell(desc)} | ${cell(details || '—')} |`)
    }
    lines.push('')
  }
  return lines.join('\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = render(JSON.parse(readFileSync(catalogueFile, 'utf8')))
  if (process.argv.includes('--check')) {
    let current = ''
    try {
      current = readFileSync(docFile, 'utf8')
    } catch {}
    if (current !== text) {
      console.error('docs/audit-events.md is stale: run `node audit/events-doc.mjs`')
      process.exit(1)
    }
    console.log('docs/audit-events.md is up to date')
  } else {
    writeFileSync(docFile, text)
    console.log(`wrote docs/audit-events.md (${JSON.parse(readFileSync(catalogueFile, 'utf8')).kinds.length} kinds)`)
  }
}
