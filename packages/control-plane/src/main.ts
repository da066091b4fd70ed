#!/usr/bin/env node
/**
 * `cfp-control-plane`: the CFP control plane service.
 *
 * @example
 *   CFP_CONTROL_MASTER_KEY=$(openssl rand -base64 32) \
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/cfp cfp-control-plane --port 4100 --regions eu-west,us-east
 *
 * Options: defaults -> environment -> flags (`--help`); `--print-config` shows the result.
 */
import { HELP, maskedOptions, parseOptions, validateOptions } from './options.js'
import { startControlPlane } from './server.js'

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseOptions>
  try {
    parsed = parseOptions(process.argv.slice(2))
    if (parsed.help) {
      process.stdout.write(HELP)
      return
    }
    if (parsed.print) {
      process.stdout.write(JSON.stringify(maskedOptions(parsed.options), null, 2) + '\n')
      return
    }
    validateOptions(parsed.options)
  } catch (err) {
    process.stderr.write(`cfp-control-plane: ${(err as Error).message}\n`)
    process.exitCode = 2
    return
  }
  const started = await startControlPlane(parsed.options)
  process.stdout.write(`cfp-control-plane listening on ${started.url}\n`)
  if (started.metricsUrl) process.stdout.write(`metrics at ${started.metricsUrl}/metrics\n`)
  if (started.setupUrl) {
    process.stdout.write(`\nNo system admin exists yet. Create one, once, within ${parsed.options.setupTtl} s:\n  ${started.setupUrl}\n\n`)
  }
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    started.app.log.info({ signal }, 'shutting down')
    const force = setTimeout(() => process.exit(1), 30_000)
    force.unref()
    started.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  process.stderr.write(`cfp-control-plane: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
