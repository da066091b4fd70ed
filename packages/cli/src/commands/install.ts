/**
 * `motia install`: prepares what the project needs to run.
 *
 * - npm: every dependency of `package.json` must resolve from the project (or a parent: workspaces hoist). When
 *   one does not, `npm install` runs in the project — except when this command is itself run by npm's install
 *   (`"postinstall": "motia install"`, `npm_lifecycle_event` set): npm is installing them right now, and running
 *   it again from inside would recurse; then the missing ones are only listed.
 * - Python: {@link preparePython} creates (or reuses) the project's `.cfp/venv` when it has Python steps, as
 *   `cfp dev` does on its first start (dev/python.ts).
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { CliError, messageOf } from '../util/errors.js'
import type { CommandIo } from '../util/io.js'

export interface InstallOptions {
  dir: string
  verbose?: boolean
  /** Runs `npm install` in `dir`; resolves with its exit code. Injectable for tests. */
  npmInstall?: (dir: string) => Promise<number>
  /** Prepares the Python environment (default: dev/python.ts's `ensurePythonEnv`). Injectable for tests. */
  pythonEnv?: (dir: string, say: (line: string) => void) => Promise<void>
}

/** Whether `node_modules/<name>` exists in `dir` or a parent. */
export function resolvable(dir: string, name: string): boolean {
  let current = dir
  for (;;) {
    if (existsSync(join(current, 'node_modules', name))) return true
    const parent = dirname(current)
    if (parent === current) return false
    current = parent
  }
}

/** The dependencies (and devDependencies) of the project's package.json that do not resolve. */
export function missingDependencies(dir: string): string[] {
  let manifest: { dependencies?: Record<string, string>; devDependencies?: Record<string, string> }
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new CliError(`${join(dir, 'package.json')} is not valid JSON: ${messageOf(err)}`, { action: 'Fix package.json.' })
  }
  const names = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})]
  return names.filter((name) => !resolvable(dir, name))
}

const PY_STEP = /(?:\.step|_step)\.py$/

/** Python step files under steps/ and src/ (node_modules, dot-directories and venvs skipped). */
export function pythonStepFiles(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    let entries
    try {
      entries = readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.') && e.name !== 'venv' && e.name !== 'python_modules') walk(join(d, e.name))
      } else if (PY_STEP.test(e.name)) out.push(join(d, e.name))
    }
  }
  for (const sub of ['steps', 'src']) walk(join(dir, sub))
  return out.sort()
}

/**
 * HOOK for the Python environment (Motia's `motia install` creates `python_modules/` with the project's
 * `requirements.txt`). CFP's Python worker support fills this in; until then it warns when Python steps exist
 * (without failing: `motia install` runs as npm's postinstall, and failing it would fail `npm install`).
 */
export async function preparePython(dir: string, io: CommandIo, pythonEnv = defaultPythonEnv): Promise<void> {
  const files = pythonStepFiles(dir)
  if (files.length === 0) return
  io.err(`motia install: ${files.length} Python step file(s) found; preparing .cfp/venv`)
  await pythonEnv(dir, (line) => io.err(line))
}

async function defaultPythonEnv(dir: string, say: (line: string) => void): Promise<void> {
  const { ensurePythonEnv } = await import('../dev/python.js')
  await ensurePythonEnv(dir, (_name, _stream, line) => say(line))
}

function defaultNpmInstall(dir: string): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['install'], { cwd: dir, stdio: 'inherit' })
    child.once('error', fail)
    child.once('exit', (code) => done(code ?? 1))
  })
}

export async function runInstall(opts: InstallOptions, io: CommandIo): Promise<number> {
  const dir = resolve(opts.dir)
  const missing = missingDependencies(dir)
  if (missing.length === 0) {
    if (opts.verbose) io.out(`motia install: every npm dependency of ${dir} is installed`)
  } else if (io.env.npm_lifecycle_event) {
    // run by npm itself (postinstall): npm is installing the project; running it again would recurse
    io.err(`motia install: not installed yet: ${missing.join(', ')} (npm ${io.env.npm_lifecycle_event} is running; not starting another npm install)`)
  } else {
    io.out(`motia install: ${missing.join(', ')} not installed; running npm install in ${dir}`)
    const code = await (opts.npmInstall ?? defaultNpmInstall)(dir)
    if (code !== 0) throw new CliError(`npm install failed in ${dir} (exit ${code})`, { action: 'See npm’s output above.' })
    const still = missingDependencies(dir)
    if (still.length > 0) throw new CliError(`still not installed after npm install: ${still.join(', ')}`, { action: 'Check package.json.' })
  }
  await preparePython(dir, io, opts.pythonEnv)
  return 0
}
