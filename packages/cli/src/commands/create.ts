/**
 * `cfp create <dir>`: copies `templates/default` into a new directory.
 *
 * Refuses a directory that exists and is not empty. `{{name}}` in `.json` and `.md` files becomes the
 * project name (the directory's base name, made npm-safe); a file named `gitignore` becomes `.gitignore`
 * (npm drops dot-gitignore files from published packages, so templates store it without the dot).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, join, relative, resolve } from 'node:path'
import { CliError } from '../util/errors.js'
import type { CommandIo } from '../util/io.js'
import { cliPackageRoot } from '../util/paths.js'

export interface CreateOptions {
  /** Template name under `templates/`; `default` unless given. */
  template?: string
  /** Directory holding the templates; defaults to this package's `templates/`. */
  templatesDir?: string
}

const RENAMES: Record<string, string> = { gitignore: '.gitignore' }
/** Never copied, should a template directory have been used as a project (`cfp dev` in it). */
const SKIPPED = new Set(['.cfp', 'node_modules'])
const SUBSTITUTED = /\.(json|md)$/

/** An npm package name from a directory name: lower case, safe characters only. */
export function projectNameFrom(dir: string): string {
  const name = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|[-]+$/g, '')
  return name || 'cfp-project'
}

function copyTree(from: string, to: string, vars: Record<string, string>, written: string[]): void {
  mkdirSync(to, { recursive: true })
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue
    const source = join(from, entry.name)
    const target = join(to, RENAMES[entry.name] ?? entry.name)
    if (entry.isDirectory()) {
      copyTree(source, target, vars, written)
    } else if (SUBSTITUTED.test(entry.name)) {
      const text = readFileSync(source, 'utf8').replace(/\{\{(\w+)\}\}/g, (m, key: string) => vars[key] ?? m)
      writeFileSync(target, text)
      written.push(target)
    } else {
      copyFileSync(source, target)
      written.push(target)
    }
  }
}

export function runCreate(dirArg: string, opts: CreateOptions, io: CommandIo): string[] {
  if (!dirArg) throw new CliError('Missing the directory to create', { action: 'Run `cfp create my-project`.' })
  const dir = resolve(io.cwd, dirArg)
  const templatesDir = opts.templatesDir ?? join(cliPackageRoot(), 'templates')
  const template = opts.template ?? 'default'
  const source = join(templatesDir, template)
  if (!existsSync(source)) {
    const known = existsSync(templatesDir) ? readdirSync(templatesDir).join(', ') : 'none'
    throw new CliError(`Unknown template '${template}'`, { explanation: `Available templates: ${known}.` })
  }
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) {
      throw new CliError(`${dir} exists and is not a directory`, { action: 'Choose another name for the project.' })
    }
    const entries = readdirSync(dir)
    if (entries.length > 0) {
      const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? `, … (${entries.length} entries)` : '')
      throw new CliError(`${dir} is not empty (${shown})`, {
        explanation: 'cfp create only writes into a new or empty directory, so it never overwrites your files.',
        action: 'Choose a new directory name, or empty this one first.',
      })
    }
  }
  const name = projectNameFrom(dir)
  const written: string[] = []
  copyTree(source, dir, { name }, written)

  const shown = relative(io.cwd, dir) || '.'
  io.out(`Created CFP project '${name}' in ${dir}`)
  for (const file of written.map((f) => relative(dir, f)).sort()) io.out(`  ${file}`)
  io.out('')
  io.out('Next:')
  if (shown !== '.') io.out(`  cd ${/^[\w./-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`}`)
  io.out('  npm install')
  io.out('  cfp dev')
  io.out(`  curl -X POST http://127.0.0.1:3000/hello -H 'content-type: application/json' -d '{"name":"Ada"}'`)
  return written
}
