#!/usr/bin/env node
/**
 * `cfp-worker`: the step worker process.
 *
 *   cfp-worker --dir <projectDir> --url <ws://host:port/__cfp/worker> --token <token> [--watch] [--name <name>]
 *
 * Falls back to CFP_PROJECT_DIR, CFP_RUNTIME_URL and CFP_WORKER_TOKEN. Prints
 * `cfp-worker: registered N steps (M errors)` after each registration. SIGTERM/SIGINT drain and exit 0.
 *
 * Started with an IPC channel (as `cfp start` and `cfp dev` do), the worker lives no longer than its parent:
 * the channel closes when the parent dies, even by SIGKILL, and the worker then drains and exits as on SIGTERM.
 * A supervisor restarting `cfp start` therefore never finds the previous worker still serving.
 */
import { parseArgs } from 'node:util'
import { formatStatus, type LogContext, type LogFormat, resolveLogFormat } from './runtime/log-format.js'
import { startWorker } from './runtime/worker.js'

const USAGE = `usage: cfp-worker --dir <projectDir> --url <ws://host:port/__cfp/worker> --token <token> [--watch] [--name <name>] [--capacity <n>] [--log-format json|pretty]
  env fallbacks: CFP_PROJECT_DIR, CFP_RUNTIME_URL, CFP_WORKER_TOKEN, CFP_LOG_FORMAT
  --log-format: json (default) or pretty (default with --watch or NODE_ENV=development)`

function fail(message: string): never {
  console.error(`cfp-worker: ${message}\n${USAGE}`)
  process.exit(2)
}

async function main(): Promise<void> {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        dir: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        watch: { type: 'boolean', default: false },
        name: { type: 'string' },
        capacity: { type: 'string' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }))
  } catch (err) {
    fail((err as Error).message)
  }
  if (values.help) {
    console.log(USAGE)
    return
  }
  const dir = values.dir ?? process.env.CFP_PROJECT_DIR
  const url = values.url ?? process.env.CFP_RUNTIME_URL
  const token = values.token ?? process.env.CFP_WORKER_TOKEN
  if (!dir) fail('no project directory: pass --dir or set CFP_PROJECT_DIR')
  if (!url) fail('no runtime URL: pass --url or set CFP_RUNTIME_URL')
  if (!/^wss?:\/\//.test(url)) fail(`--url must be a ws:// or wss:// URL, got '${url}'`)
  if (!token) fail('no worker token: pass --token or set CFP_WORKER_TOKEN')
  let format: LogFormat
  try {
    format = resolveLogFormat(values['log-format'], process.env, values.watch ?? false)
  } catch (err) {
    fail((err as Error).message)
  }
  const context: LogContext = {}
  const say = (level: 'info' | 'warn' | 'error', msg: string): void => {
    const line = formatStatus(msg, level, format, context)
    if (level === 'info') console.log(line)
    else console.error(line)
  }
  const capacity = values.capacity === undefined ? undefined : Number(values.capacity)
  if (capacity !== undefined && (!Number.isInteger(capacity) || capacity < 1)) fail('--capacity must be a whole number >= 1')

  // A stray promise or timer in a step must not take the other steps down.
  const text = (v: unknown): string => (v instanceof Error ? (v.stack ?? v.message) : String(v))
  process.on('unhandledRejection', (reason) => say('error', `cfp-worker: unhandled promise rejection in step code: ${text(reason)}`))
  process.on('uncaughtException', (err) => say('error', `cfp-worker: uncaught exception in step code: ${text(err)}`))

  // The parent may die while the project loads: remember it, act once the worker exists.
  const watchesParent = process.channel !== undefined
  let onParentGone: () => void = () => {}
  if (watchesParent) process.once('disconnect', () => onParentGone())

  // Step files resolve relative paths (and .env loaders) from the project root, as under Motia.
  process.chdir(dir)
  const worker = await startWorker({
    dir: process.cwd(),
    url,
    token,
    watch: values.watch,
    logFormat: format,
    logContext: context,
    print: (line) => say('warn', line),
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(capacity !== undefined ? { capacity } : {}),
    onRegistered: ({ steps, errors, loadErrors }) => {
      say('info', `cfp-worker: registered ${steps.length} steps (${errors.length + loadErrors.length} errors)`)
      for (const e of errors) say('error', `cfp-worker: ${e.file}: step '${e.step}' rejected (${e.code}): ${e.message}`)
    },
  })

  let signals = 0
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1
    if (signals > 1) {
      say('warn', `cfp-worker: ${sig} again; exiting now`)
      process.exit(1)
    }
    say('warn', `cfp-worker: ${sig} received; draining (${worker.inFlight()} in flight)`)
    void worker.stop()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  onParentGone = () => {
    say('warn', 'cfp-worker: the parent process is gone; draining and exiting')
    signals = 1 // a later SIGTERM/SIGINT forces the exit
    void worker.stop()
  }
  if (watchesParent && !process.connected) onParentGone()

  const exit = await worker.exited
  process.exit(exit.reason === 'stopped' ? 0 : 1)
}

main().catch((err: unknown) => {
  console.error(`cfp-worker: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
})
