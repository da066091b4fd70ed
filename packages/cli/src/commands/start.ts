/**
 * `cfp start --url ws://host:port/__cfp/worker --token T [--dir D]`: a production worker for one project,
 * connected to a runtime someone else runs. It is `cfp-worker` without `--watch`; signals are passed on and
 * its exit code becomes ours. The token may come from `CFP_WORKER_TOKEN` instead of the command line. Unlike
 * `cfp dev`, no `.env` file is read: production settings come from the environment.
 *
 * The worker is bound to this process's life by an IPC channel: if `cfp start` dies, even by SIGKILL, the
 * channel closes and the worker drains and exits, so a supervisor restarting `cfp start` never runs two workers.
 *
 * A project with Python steps (`*_step.py`) also gets a Python worker (its environment `.cfp/venv` prepared
 * first, see dev/python.ts), restarted with backoff if it crashes and stopped with the Node worker; when the
 * environment cannot be prepared the error names the fixing command and the TypeScript steps run alone.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { prefixedSink } from '../dev/child.js'
import { ensurePythonEnv, hasPythonSteps } from '../dev/python.js'
import { PythonWorker } from '../dev/python-worker.js'
import { CliError, formatError } from '../util/errors.js'
import type { CommandIo } from '../util/io.js'
import { resolveWorkerMain } from '../util/paths.js'

export interface StartOptions {
  url: string
  token?: string
  dir?: string
}

export function validateWorkerUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new CliError(`--url '${url}' is not a URL`, { action: 'Pass the runtime worker endpoint, e.g. --url wss://runtime.example.com/__cfp/worker.' })
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new CliError(`--url must be a ws:// or wss:// URL, got ${parsed.protocol}//`, {
      action: `Use ${parsed.protocol === 'https:' ? 'wss' : 'ws'}://${parsed.host}/__cfp/worker.`,
    })
  }
  return url
}

export function runStart(opts: StartOptions, io: CommandIo): Promise<number> {
  const url = validateWorkerUrl(opts.url)
  const token = opts.token ?? io.env.CFP_WORKER_TOKEN
  if (!token) {
    throw new CliError('No worker token', {
      explanation: 'A worker proves which project it serves with a worker token issued for that project.',
      action: 'Pass --token <token> or set CFP_WORKER_TOKEN.',
    })
  }
  const dir = resolve(io.cwd, opts.dir ?? '.')
  if (!existsSync(dir)) throw new CliError(`${dir} does not exist`, { action: 'Pass the project directory with --dir.' })
  const main = resolveWorkerMain(io.env)
  return runWorkers(dir, url, token, main, io)
}

function runWorkers(dir: string, url: string, token: string, main: string, io: CommandIo): Promise<number> {
  // the token travels in the environment (CFP_WORKER_TOKEN), not in argv where `ps` shows it
  const args = [main, '--dir', dir, '--url', url]
  const env = { ...io.env, CFP_WORKER_TOKEN: token }
  // own process group: a terminal's Ctrl-C reaches the worker once, through us; the IPC channel (no messages
  // travel on it) tells the worker when we are gone
  const child = spawn(process.execPath, args, {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env,
    cwd: dir,
    detached: process.platform !== 'win32',
  })
  // the Python worker starts once its environment is ready (the TypeScript steps do not wait for it)
  let python: PythonWorker | undefined
  let stopping = false
  const pythonReady = hasPythonSteps(dir)
    ? startPython(dir, url, token, io.env).then((w) => {
        if (stopping) void w?.stop(10_000)
        else python = w
      })
    : Promise.resolve()
  const forward = (signal: NodeJS.Signals) => () => {
    stopping = true
    child.kill(signal)
    void python?.stop(10_000)
  }
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const)
  for (const [signal, handler] of handlers) process.on(signal, handler)
  const killOnExit = () => child.kill('SIGKILL')
  process.on('exit', killOnExit)
  return new Promise((resolveExit, reject) => {
    child.once('error', (err) => reject(new CliError(`Could not start the worker: ${err.message}`)))
    child.once('exit', async (code, signal) => {
      stopping = true
      await python?.stop(10_000)
      await pythonReady
      for (const [s, handler] of handlers) process.off(s, handler)
      process.off('exit', killOnExit)
      resolveExit(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1) : 1))
    })
  })
}

/** Prepares the Python environment and starts the Python worker; undefined (after saying why) when it cannot. */
async function startPython(dir: string, url: string, token: string, env: NodeJS.ProcessEnv): Promise<PythonWorker | undefined> {
  const sink = prefixedSink(process.stdout, process.stderr)
  try {
    const pyEnv = await ensurePythonEnv(dir, sink, env)
    const worker = new PythonWorker({ dir, url, token, python: pyEnv.python, sink, env, watch: false })
    worker.start()
    return worker
  } catch (err) {
    for (const line of formatError(err).split('\n')) sink('python', 'stderr', line)
    sink('cfp', 'stderr', 'continuing without the Python worker: the Python steps are not registered')
    return undefined
  }
}
