/**
 * Python steps in `cfp dev` and `cfp start`: finding them, the project's virtual environment, and the Python
 * worker's command line.
 *
 * The environment lives in `<project>/.cfp/venv`. It is created on the first start (progress lines go to the
 * sink) with `python3 -m venv`, then one pip run installs the CFP Python worker (`packages/worker-py`, from its
 * local path; its in-tree build backend needs nothing from PyPI) and the project's dependencies:
 * `requirements.txt`, else the `[project].dependencies` of `pyproject.toml`. When the interpreter's own pip can
 * install into another environment (pip ≥ 22.3, `pip --python`), the environment is made without pip of its own
 * (`--without-pip`), which saves bootstrapping pip into it (seconds). A stamp (`.cfp/venv/.cfp-env.json`) records a hash of the interpreter, the dependency file
 * and the worker package; the environment is reused while it matches and rebuilt when it does not. A missing
 * interpreter or a failed install is a `PythonSetupError` naming the command that fixes it.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseEnv } from 'node:util'
import { CliError } from '../util/errors.js'
import { repoRoot } from '../util/paths.js'
import type { LineSink } from './child.js'

const STEP_OR_STREAM = /(?:\.step|_step|\.stream|_stream)\.py$/
const IGNORED = (name: string): boolean => name === 'node_modules' || name === 'dist' || name === '__pycache__' || name.startsWith('.')

/** Whether the project has Python step or stream files under steps/ or src/ (what the Python worker loads). */
export function hasPythonSteps(dir: string): boolean {
  const walk = (d: string, depth: number): boolean => {
    if (depth > 32) return false
    let entries
    try {
      entries = readdirSync(d, { withFileTypes: true })
    } catch {
      return false
    }
    for (const e of entries) {
      if (e.isDirectory()) {
        if (!IGNORED(e.name) && walk(join(d, e.name), depth + 1)) return true
      } else if (STEP_OR_STREAM.test(e.name)) return true
    }
    return false
  }
  return ['steps', 'src'].some((sub) => walk(join(dir, sub), 0))
}

export class PythonSetupError extends CliError {}

/** The CFP Python worker package: `CFP_WORKER_PY_DIR`, else `<repo>/packages/worker-py`. */
export function workerPyDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.CFP_WORKER_PY_DIR ?? join(repoRoot(), 'packages', 'worker-py')
  if (!existsSync(join(dir, 'pyproject.toml'))) {
    throw new PythonSetupError(`The CFP Python worker package is missing (no pyproject.toml in ${dir})`, {
      action: 'Point CFP_WORKER_PY_DIR at packages/worker-py of the CFP repository.',
    })
  }
  return dir
}

export interface PythonEnv {
  /** The environment's interpreter (runs `-m cfp_worker`). */
  python: string
  venv: string
  /** True when this call created or rebuilt it. */
  built: boolean
}

interface Interpreter {
  command: string
  version: string
  /** Its pip can install into another environment (`pip --python`, pip ≥ 22.3). */
  hostPip: boolean
}

function pipCanTarget(command: string, env: NodeJS.ProcessEnv): boolean {
  const r = spawnSync(command, ['-m', 'pip', '--version'], { encoding: 'utf8', timeout: 15_000, env })
  const m = /^pip (\d+)\.(\d+)/.exec(r.stdout ?? '')
  if (r.status !== 0 || !m) return false
  const [major, minor] = [Number(m[1]), Number(m[2])]
  return major > 22 || (major === 22 && minor >= 3)
}

function findInterpreter(env: NodeJS.ProcessEnv): Interpreter {
  const candidates = env.CFP_PYTHON ? [env.CFP_PYTHON] : ['python3', 'python']
  const probe = 'import sys, venv; print("%d.%d.%d" % sys.version_info[:3])'
  const problems: string[] = []
  for (const command of candidates) {
    const r = spawnSync(command, ['-c', probe], { encoding: 'utf8', timeout: 15_000, env })
    if (r.error) {
      problems.push(`${command}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : r.error.message}`)
      continue
    }
    if (r.status !== 0) {
      const venvMissing = /No module named .?venv/.test(r.stderr)
      problems.push(`${command}: ${venvMissing ? 'has no venv module' : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`)
      continue
    }
    const version = r.stdout.trim()
    const [major, minor] = version.split('.').map(Number)
    if ((major ?? 0) < 3 || (major === 3 && (minor ?? 0) < 10)) {
      problems.push(`${command}: Python ${version} is too old (3.10 or newer is needed)`)
      continue
    }
    return { command, version, hostPip: pipCanTarget(command, env) }
  }
  throw new PythonSetupError(`No usable Python 3.10+ interpreter for the project's Python steps (${problems.join('; ')})`, {
    explanation: 'Python steps (*_step.py) run in a Python worker; the TypeScript steps run without it.',
    action:
      'Install Python 3.10+ with venv (`sudo apt-get install python3 python3-venv`, or `brew install python`) or set CFP_PYTHON to an interpreter, then restart.',
  })
}

function hashDir(h: ReturnType<typeof createHash>, dir: string): void {
  for (const name of readdirSync(dir).sort()) {
    if (name.endsWith('.py')) h.update(name).update(readFileSync(join(dir, name)))
  }
}

/** The project's dependency file: requirements.txt, else pyproject.toml, else none. */
export function dependencyFile(dir: string): string | undefined {
  for (const name of ['requirements.txt', 'pyproject.toml']) if (existsSync(join(dir, name))) return join(dir, name)
  return undefined
}

/** What the environment depends on: interpreter, dependency file, worker package. */
export function envHash(dir: string, interpreter: string, workerDir: string): string {
  const h = createHash('sha256').update(`python ${interpreter}\n`)
  const deps = dependencyFile(dir)
  if (deps) h.update(relative(dir, deps)).update(readFileSync(deps))
  h.update(readFileSync(join(workerDir, 'pyproject.toml')))
  hashDir(h, join(workerDir, 'cfp_worker'))
  if (existsSync(join(workerDir, '_build'))) hashDir(h, join(workerDir, '_build'))
  return h.digest('hex')
}

function run(command: string, args: string[], opts: { cwd: string; sink: LineSink; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; tail: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] })
    const tail: string[] = []
    const onData = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (line.trim() === '') continue
        opts.sink('python', stream, line)
        tail.push(line)
        if (tail.length > 20) tail.shift()
      }
    }
    child.stdout.on('data', onData('stdout'))
    child.stderr.on('data', onData('stderr'))
    child.once('error', (err) => resolve({ code: 127, tail: [...tail, err.message] }))
    child.once('close', (code) => resolve({ code, tail }))
  })
}

/** The dependencies of a pyproject.toml (`[project].dependencies`), read by the interpreter's tomllib. */
async function pyprojectDeps(python: string, file: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const code = [
    'import json, sys',
    'try:\n    import tomllib\nexcept ImportError:\n    import tomli as tomllib',
    'with open(sys.argv[1], "rb") as f:\n    print(json.dumps(tomllib.load(f).get("project", {}).get("dependencies", [])))',
  ].join('\n')
  const r = spawnSync(python, ['-c', code, file], { encoding: 'utf8', timeout: 15_000, env })
  if (r.status !== 0) {
    throw new PythonSetupError(`Cannot read the dependencies of ${file}: ${r.stderr.trim().split('\n').pop() ?? 'failed'}`, {
      action: 'Fix pyproject.toml (a [project] table with a dependencies list), or list the dependencies in requirements.txt.',
    })
  }
  return JSON.parse(r.stdout) as string[]
}

/** Creates (or reuses) `<dir>/.cfp/venv` with the worker and the project's dependencies installed. */
export async function ensurePythonEnv(dir: string, sink: LineSink, env: NodeJS.ProcessEnv = process.env): Promise<PythonEnv> {
  const say = (line: string) => sink('python', 'stderr', line)
  const workerDir = workerPyDir(env)
  const interpreter = findInterpreter(env)
  const venv = join(dir, '.cfp', 'venv')
  const python = join(venv, 'bin', 'python')
  const stamp = join(venv, '.cfp-env.json')
  const hash = envHash(dir, `${interpreter.command} ${interpreter.version}`, workerDir)
  try {
    if (existsSync(python) && (JSON.parse(readFileSync(stamp, 'utf8')) as { hash?: string }).hash === hash) {
      return { python, venv, built: false }
    }
  } catch {
    // no stamp (first start, or an install that did not finish): build it
  }
  const rel = relative(dir, venv)
  const deps = dependencyFile(dir)
  // pip of the environment, or the interpreter's pip aimed at it
  const pip = interpreter.hostPip ? { command: interpreter.command, args: ['-m', 'pip', '--python', python] } : { command: python, args: ['-m', 'pip'] }
  const pipText = `${interpreter.hostPip ? `${interpreter.command} -m pip --python ${rel}/bin/python` : `${rel}/bin/python -m pip`} install`
  const fix = deps
    ? `\`${pipText} ${deps.endsWith('.txt') ? `-r ${relative(dir, deps)}` : '<the dependencies of pyproject.toml>'}\` to see the problem, then fix ${relative(dir, deps)} and restart (\`rm -rf ${rel}\` starts over)`
    : `\`${pipText} ${workerDir}\` to see the problem, or \`rm -rf ${rel}\` and restart`
  say(`${existsSync(python) ? 'rebuilding' : 'creating'} the Python environment ${rel} (Python ${interpreter.version})…`)
  const started = Date.now()
  const pipEnv = { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONUNBUFFERED: '1' }
  const step = async (what: string, command: string, args: string[]) => {
    say(what)
    const r = await run(command, args, { cwd: dir, sink, env: pipEnv })
    if (r.code !== 0) {
      throw new PythonSetupError(`${what.replace(/…$/, '')} failed (exit ${r.code})`, {
        explanation: `Last output:\n  ${r.tail.slice(-8).join('\n  ')}\nThe TypeScript steps keep running; the Python steps are not registered.`,
        action: `Run ${fix}.`,
      })
    }
  }
  rmSync(stamp, { force: true })
  await step(`creating ${rel}…`, interpreter.command, ['-m', 'venv', '--clear', ...(interpreter.hostPip ? ['--without-pip'] : []), venv])
  let what = 'the CFP Python worker'
  const args = [...pip.args, 'install', '-q', workerDir]
  if (deps?.endsWith('requirements.txt')) {
    args.push('-r', deps)
    what += ` and ${relative(dir, deps)}`
  } else if (deps) {
    const list = await pyprojectDeps(interpreter.command, deps, env)
    args.push(...list)
    what += ` and the ${list.length} dependencies of ${relative(dir, deps)}`
  }
  await step(`installing ${what} (pip)…`, pip.command, args)
  writeFileSync(stamp, JSON.stringify({ hash, python: interpreter.version, at: new Date().toISOString() }))
  say(`Python environment ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return { python, venv, built: true }
}

/** The variables of the project's `.env` (as `node --env-file` reads them for the Node worker); none when absent. */
export function projectDotEnv(dir: string): Record<string, string> {
  const file = join(dir, '.env')
  if (!existsSync(file)) return {}
  try {
    return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>
  } catch {
    return {}
  }
}

/** The command line of the Python worker (the token travels in CFP_WORKER_TOKEN, never in argv). */
export function pythonWorkerArgs(dir: string, url: string, watch: boolean): string[] {
  return ['-m', 'cfp_worker', '--dir', dir, '--url', url, '--name', 'python', ...(watch ? ['--watch'] : [])]
}

export interface PythonManifests {
  steps: Array<{ manifest: { name: string; type: string; file: string } & Record<string, unknown> }>
  streams: unknown[]
  errors: Array<{ file: string; code: string; message: string }>
}

/**
 * The manifests of the project's Python steps and streams (`python -m cfp_worker --manifest`, in the project's
 * environment), for `cfp generate-types`; undefined when `.cfp/venv` does not exist yet.
 */
export function pythonManifests(dir: string, env: NodeJS.ProcessEnv = process.env): PythonManifests | undefined {
  const python = join(dir, '.cfp', 'venv', 'bin', 'python')
  if (!existsSync(python)) return undefined
  const r = spawnSync(python, ['-m', 'cfp_worker', '--dir', dir, '--manifest'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...env, PYTHONDONTWRITEBYTECODE: '1' },
  })
  if (r.status !== 0) {
    throw new PythonSetupError(`Reading the Python steps failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop() ?? ''}`, {
      action: 'Start `cfp dev` once (it rebuilds .cfp/venv), then run `cfp generate-types` again.',
    })
  }
  const parsed = JSON.parse(r.stdout) as { steps: Array<Record<string, unknown>>; streams: unknown[]; errors: PythonManifests['errors'] }
  return {
    steps: parsed.steps.map((manifest) => ({ manifest: manifest as PythonManifests['steps'][number]['manifest'] })),
    streams: parsed.streams,
    errors: parsed.errors,
  }
}
