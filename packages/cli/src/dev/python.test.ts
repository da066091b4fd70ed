import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { dependencyFile, ensurePythonEnv, envHash, hasPythonSteps, PythonSetupError, pythonWorkerArgs, workerPyDir } from './python.js'

const dirs: string[] = []
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cfp-py-'))
  dirs.push(dir)
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true })
    writeFileSync(join(dir, file), text)
  }
  return dir
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const lines: string[] = []
const sink = (_name: string, _stream: string, line: string) => void lines.push(line)

describe('Python steps in cfp dev / cfp start', () => {
  it('finds Python step and stream files the way the Python worker does', () => {
    expect(hasPythonSteps(project({ 'steps/a.step.ts': '' }))).toBe(false)
    expect(hasPythonSteps(project({ 'steps/deep/x/price_step.py': '' }))).toBe(true)
    expect(hasPythonSteps(project({ 'src/a.step.py': '' }))).toBe(true)
    expect(hasPythonSteps(project({ 'steps/chat_stream.py': '' }))).toBe(true)
    // helpers, ignored directories and files outside steps/ and src/ do not count
    expect(hasPythonSteps(project({ 'steps/helpers.py': '', 'steps/.venv/x_step.py': '', 'steps/node_modules/y_step.py': '', 'z_step.py': '' }))).toBe(false)
  })

  it('keys the environment on the dependency file: a changed requirements.txt rebuilds it', () => {
    const worker = workerPyDir()
    const dir = project({ 'requirements.txt': 'pydantic>=2\n' })
    const before = envHash(dir, 'python3 3.11.7', worker)
    expect(envHash(dir, 'python3 3.11.7', worker)).toBe(before)
    writeFileSync(join(dir, 'requirements.txt'), 'pydantic>=2\nhttpx\n')
    expect(envHash(dir, 'python3 3.11.7', worker)).not.toBe(before)
    expect(envHash(dir, 'python3 3.12.1', worker)).not.toBe(envHash(dir, 'python3 3.11.7', worker))
    expect(dependencyFile(project({ 'pyproject.toml': '' }))).toMatch(/pyproject\.toml$/)
    expect(dependencyFile(project({}))).toBeUndefined()
  })

  it('names the fix when no interpreter is found', async () => {
    const dir = project({ 'steps/a_step.py': '' })
    const err = await ensurePythonEnv(dir, sink, { ...process.env, CFP_PYTHON: '/nonexistent/python3' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PythonSetupError)
    expect((err as PythonSetupError).message).toContain('/nonexistent/python3: not found')
    expect((err as PythonSetupError).action).toMatch(/apt-get install python3 python3-venv.*CFP_PYTHON/)
  })

  it('reports a failed install with the command that shows and fixes it, and writes no stamp', async () => {
    const dir = project({ 'steps/a_step.py': '', 'requirements.txt': './no-such-package-dir\n' })
    lines.length = 0
    const err = await ensurePythonEnv(dir, sink).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PythonSetupError)
    const e = err as PythonSetupError
    expect(e.message).toMatch(/^installing the CFP Python worker and requirements\.txt \(pip\) failed/)
    expect(e.action).toMatch(/-m pip .*install -r requirements\.txt`/)
    expect(e.explanation).toMatch(/no-such-package-dir/)
    expect(e.explanation).toMatch(/TypeScript steps keep running/)
    expect(lines.some((l) => l.startsWith('creating the Python environment .cfp/venv'))).toBe(true)
    expect(existsSync(join(dir, '.cfp', 'venv', 'bin', 'python'))).toBe(true)
    expect(existsSync(join(dir, '.cfp', 'venv', '.cfp-env.json'))).toBe(false)
  }, 60_000)

  it('never puts the token on the command line', () => {
    expect(pythonWorkerArgs('/p', 'ws://127.0.0.1:1/__cfp/worker', true)).toEqual([
      '-m',
      'cfp_worker',
      '--dir',
      '/p',
      '--url',
      'ws://127.0.0.1:1/__cfp/worker',
      '--name',
      'python',
      '--watch',
    ])
  })
})
