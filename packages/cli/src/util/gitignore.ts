/**
 * `cfp dev` keeps its local data (embedded PostgreSQL, dev.json with the admin token) in `.cfp/` of the project:
 * it must never be committed. {@link ensureGitignored} adds `.cfp/` to the project's `.gitignore` (creating the
 * file when absent), once: a line that already ignores it (`.cfp`, `.cfp/`, `/.cfp`, `/.cfp/`) is left alone.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const IGNORES_CFP = /^\/?\.cfp\/?\s*$/

/** Adds `.cfp/` to `<dir>/.gitignore`; returns what it did (`created`, `added`) or undefined when nothing changed. */
export function ensureGitignored(dir: string): 'created' | 'added' | undefined {
  const path = join(dir, '.gitignore')
  if (!existsSync(path)) {
    writeFileSync(path, '.cfp/\n')
    return 'created'
  }
  const text = readFileSync(path, 'utf8')
  if (text.split(/\r?\n/).some((line) => IGNORES_CFP.test(line))) return undefined
  const eol = text.includes('\r\n') ? '\r\n' : '\n'
  const sep = text === '' || text.endsWith('\n') ? '' : eol
  writeFileSync(path, `${text}${sep}.cfp/${eol}`)
  return 'added'
}
