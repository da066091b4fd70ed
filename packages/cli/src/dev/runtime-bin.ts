/**
 * Finds the `cfp-runtime` executable for `cfp dev`.
 *
 * Order: `CFP_RUNTIME_BIN` (used as given, must exist); otherwise the newest existing file among
 * `$CARGO_TARGET_DIR/{release,debug}/cfp-runtime` and `<repo>/target/{release,debug}/cfp-runtime`, so a fresh
 * debug build wins over a stale release build. Filesystem access is injectable for tests.
 *
 * @example
 * const { path, source } = resolveRuntimeBinary({ env: process.env, repoRoot: repoRoot() })
 */
import { statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { CliError } from '../util/errors.js'

export interface RuntimeBinaryQuery {
  env: NodeJS.ProcessEnv
  repoRoot: string
  /** Modification time in ms of an existing regular file, or undefined. Defaults to `fs.statSync`. */
  mtimeOf?: (path: string) => number | undefined
  platform?: NodeJS.Platform
}

export interface RuntimeBinary {
  path: string
  /** Where it came from: `CFP_RUNTIME_BIN`, `CARGO_TARGET_DIR` or `repository target/`. */
  source: string
}

function statMtime(path: string): number | undefined {
  try {
    const st = statSync(path)
    return st.isFile() ? st.mtimeMs : undefined
  } catch {
    return undefined
  }
}

/** Every place a runtime binary may be, in order of preference when modification times tie. */
export function runtimeBinaryCandidates(query: RuntimeBinaryQuery): RuntimeBinary[] {
  const exe = (query.platform ?? process.platform) === 'win32' ? 'cfp-runtime.exe' : 'cfp-runtime'
  const out: RuntimeBinary[] = []
  const targetDir = query.env.CARGO_TARGET_DIR
  if (targetDir) {
    for (const profile of ['release', 'debug']) {
      out.push({ path: resolve(targetDir, profile, exe), source: 'CARGO_TARGET_DIR' })
    }
  }
  for (const profile of ['release', 'debug']) {
    out.push({ path: join(query.repoRoot, 'target', profile, exe), source: 'repository target/' })
  }
  return out
}

export function resolveRuntimeBinary(query: RuntimeBinaryQuery): RuntimeBinary {
  const mtimeOf = query.mtimeOf ?? statMtime
  const explicit = query.env.CFP_RUNTIME_BIN
  if (explicit) {
    const path = resolve(explicit)
    if (mtimeOf(path) === undefined) {
      throw new CliError(`CFP_RUNTIME_BIN is set to ${explicit}, but no such file exists`, {
        action: 'Point CFP_RUNTIME_BIN at a built cfp-runtime executable, or unset it to use the repository build.',
      })
    }
    return { path, source: 'CFP_RUNTIME_BIN' }
  }
  const candidates = runtimeBinaryCandidates(query)
  let best: { bin: RuntimeBinary; mtime: number } | undefined
  for (const bin of candidates) {
    const mtime = mtimeOf(bin.path)
    if (mtime !== undefined && (best === undefined || mtime > best.mtime)) best = { bin, mtime }
  }
  if (!best) {
    throw new CliError('No cfp-runtime binary found', {
      explanation: `cfp dev runs the Rust runtime and looked for it at:\n${candidates.map((c) => `    ${c.path}`).join('\n')}`,
      action: 'Run `cargo build --release -p cfp-runtime` in the CFP repository, or set CFP_RUNTIME_BIN.',
    })
  }
  return best.bin
}
