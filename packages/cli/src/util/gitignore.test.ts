import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ensureGitignored } from './gitignore.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cfp-gitignore-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))
const read = () => readFileSync(join(dir, '.gitignore'), 'utf8')

describe('.cfp/ in .gitignore', () => {
  it('creates .gitignore when absent, then changes nothing', () => {
    expect(ensureGitignored(dir)).toBe('created')
    expect(read()).toBe('.cfp/\n')
    expect(ensureGitignored(dir)).toBeUndefined()
    expect(read()).toBe('.cfp/\n')
  })

  it('appends to an existing file (with or without a final newline), never twice', () => {
    writeFileSync(join(dir, '.gitignore'), 'node_modules\ndist')
    expect(ensureGitignored(dir)).toBe('added')
    expect(read()).toBe('node_modules\ndist\n.cfp/\n')
    expect(ensureGitignored(dir)).toBeUndefined()
    expect(read()).toBe('node_modules\ndist\n.cfp/\n')
  })

  it('keeps CRLF files CRLF', () => {
    writeFileSync(join(dir, '.gitignore'), 'node_modules\r\n')
    ensureGitignored(dir)
    expect(read()).toBe('node_modules\r\n.cfp/\r\n')
  })

  it('recognises the other spellings of the same rule', () => {
    for (const rule of ['.cfp', '/.cfp', '/.cfp/', '.cfp/  ']) {
      writeFileSync(join(dir, '.gitignore'), `x\n${rule}\n`)
      expect(ensureGitignored(dir), rule).toBeUndefined()
    }
    writeFileSync(join(dir, '.gitignore'), '# .cfp/\n.cfpx\n')
    expect(ensureGitignored(dir)).toBe('added')
  })
})
