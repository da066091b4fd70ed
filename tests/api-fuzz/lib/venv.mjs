/**
 * The project-local virtualenv with schemathesis (`tests/api-fuzz/.venv`, git-ignored). Installed from PyPI
 * with every version pinned in `requirements.txt`; a stamp file (a copy of the requirements and the Python
 * version) makes a second call a no-op. `PYTHON` picks the interpreter (default `python3.11`, then `python3`).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const here = path.dirname(new URL(import.meta.url).pathname)
export const root = path.resolve(here, '..')
const venv = path.join(root, '.venv')
const stamp = path.join(venv, '.cfp-requirements-stamp')
export const schemathesis = path.join(venv, 'bin', 'schemathesis')

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 })
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`)
}

function python() {
  for (const p of [process.env.PYTHON, 'python3.11', 'python3'].filter(Boolean)) {
    const r = spawnSync(p, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' })
    if (r.status === 0) {
      const [major, minor] = r.stdout.trim().split('.').map(Number)
      if (major === 3 && minor >= 10) return { bin: p, version: r.stdout.trim() }
    }
  }
  throw new Error('api-fuzz: Python >= 3.10 with venv and pip is required (set PYTHON to choose one)')
}

/** Makes sure the pinned schemathesis is installed; returns the path of its executable. */
export function ensureSchemathesis(log = console.log) {
  const py = python()
  const want = `${py.version}\n${readFileSync(path.join(root, 'requirements.txt'), 'utf8')}`
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want && existsSync(schemathesis)) return schemathesis
  log(`api-fuzz: installing schemathesis into ${path.relative(process.cwd(), venv) || venv} (Python ${py.version})`)
  rmSync(venv, { recursive: true, force: true })
  run(py.bin, ['-m', 'venv', venv])
  const pip = path.join(venv, 'bin', 'pip')
  run(pip, ['install', '--quiet', '--disable-pip-version-check', '--no-input', '-r', path.join(root, 'requirements.txt')])
  writeFileSync(stamp, want)
  return schemathesis
}
