import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { captureIo } from '../test-support/fake-server.js'
import { CliError } from '../util/errors.js'
import { projectNameFrom, runCreate } from './create.js'

const tmp = () => mkdtempSync(join(tmpdir(), 'cfp-create-'))

describe('cfp create', () => {
  it('writes the template project with the directory name', () => {
    const parent = tmp()
    const { io, out } = captureIo(parent)
    runCreate('My App', {}, io)
    const dir = join(parent, 'My App')
    expect(readdirSync(dir).sort()).toEqual(['.gitignore', 'README.md', 'package.json', 'steps', 'tsconfig.json', 'types.d.ts'])
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, any>
    expect(pkg.name).toBe('my-app')
    expect(pkg.type).toBe('module')
    expect(pkg.dependencies.zod).toMatch(/^\^4/)
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/^# my-app\n/)
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toContain('.cfp/')
    expect(out).toContain("  cd 'My App'")
  })

  it('has the five kinds of steps of the hello flow, in classic Motia style', () => {
    const parent = tmp()
    runCreate('app', {}, captureIo(parent).io)
    const steps = join(parent, 'app', 'steps')
    const read = (f: string) => readFileSync(join(steps, f), 'utf8')
    expect(readdirSync(steps).sort()).toEqual([
      'greeting-report.step.ts',
      'hello-api.step.ts',
      'log-greeting.step.ts',
      'manual-review.step.ts',
      'process-greeting.step.ts',
    ])
    expect(read('hello-api.step.ts')).toMatch(/path: '\/hello',\s+method: 'POST',\s+emits: \['hello.received'\]/)
    expect(read('process-greeting.step.ts')).toMatch(/subscribes: \['hello.received'\],\s+emits: \['hello.processed'\]/)
    expect(read('process-greeting.step.ts')).toContain('state.set(')
    expect(read('log-greeting.step.ts')).toContain("subscribes: ['hello.processed']")
    expect(read('greeting-report.step.ts')).toContain("cron: '* * * * *'")
    expect(read('manual-review.step.ts')).toMatch(/type: 'noop'[\s\S]*virtualSubscribes[\s\S]*virtualEmits/)
    for (const file of readdirSync(steps)) expect(read(file)).toContain("from 'motia'")
  })

  it('accepts an empty existing directory', () => {
    const dir = join(tmp(), 'empty')
    mkdirSync(dir)
    runCreate(dir, {}, captureIo('/').io)
    expect(existsSync(join(dir, 'package.json'))).toBe(true)
  })

  it('refuses a non-empty directory and leaves it untouched', () => {
    const dir = tmp()
    writeFileSync(join(dir, 'notes.txt'), 'mine')
    let error: unknown
    try {
      runCreate(dir, {}, captureIo('/').io)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(CliError)
    expect((error as CliError).message).toContain('is not empty (notes.txt)')
    expect((error as CliError).action).toMatch(/new directory name/)
    expect(readdirSync(dir)).toEqual(['notes.txt'])
  })

  it('refuses a path that is a file, and an unknown template', () => {
    const dir = tmp()
    writeFileSync(join(dir, 'f'), '')
    expect(() => runCreate(join(dir, 'f'), {}, captureIo('/').io)).toThrow(/is not a directory/)
    expect(() => runCreate(join(dir, 'x'), { template: 'nope' }, captureIo('/').io)).toThrow(/Unknown template 'nope'/)
  })

  it('stays in step with examples/hello, which the README runs', () => {
    const template = new URL('../../templates/default/steps/', import.meta.url)
    const example = new URL('../../../../examples/hello/steps/', import.meta.url)
    const files = readdirSync(template).sort()
    expect(readdirSync(example).sort()).toEqual(files)
    for (const f of files) expect(readFileSync(new URL(f, example), 'utf8'), f).toBe(readFileSync(new URL(f, template), 'utf8'))
  })

  it('derives npm-safe names', () => {
    expect(projectNameFrom('/a/Hello World!')).toBe('hello-world')
    expect(projectNameFrom('/a/.hidden')).toBe('hidden')
    expect(projectNameFrom('/a/___')).toBe('cfp-project')
  })
})
