/**
 * The `motia` command: Motia's command line mapped onto CFP's, so a Motia project whose `package.json` depends on
 * `@cfp/cli` instead of `motia` runs its scripts unchanged (`"dev": "motia dev"`, `"postinstall": "motia install"`).
 *
 *   motia dev [-p|--port] [-H|--host] [-d|--debug] [-v|--disable-verbose] [-m|--mermaid] [--motia-dir]  → cfp dev
 *   motia start [--url] [--token] [-p] [-H] [-d] [-v] [--motia-dir]       → cfp start (a worker for a runtime)
 *   motia emit --topic T --message JSON [-p|--port]                        → cfp emit --topic T --data JSON
 *   motia generate-types                                                  → cfp generate-types
 *   motia create [name] [-t|--template] [-p|--plugin] [-i] [--skip-redis]  → cfp create <name>
 *   motia install [-v|--verbose]                                          → what the project needs (see install.ts)
 *
 * Flags from Motia 0.17's `packages/snap/src/cli.ts`. What has no meaning on CFP is accepted and said so (never a
 * silent no-op); any other Motia command (`rules`, `generate step`, `docker`, cloud commands) is a clear error.
 * Motia has no top-level `build` in 0.17 (only `docker build`), so neither does this.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { runCreate } from './commands/create.js'
import { runDev } from './commands/dev.js'
import { runEmit } from './commands/emit.js'
import { runGenerateTypes } from './commands/generate-types.js'
import { runInstall } from './commands/install.js'
import { runStart } from './commands/start.js'
import { CliError } from './util/errors.js'
import { type CommandIo, processIo } from './util/io.js'
import { cliPackageRoot } from './util/paths.js'

function version(): string {
  try {
    return `${(JSON.parse(readFileSync(join(cliPackageRoot(), 'package.json'), 'utf8')) as { version: string }).version} (CFP)`
  } catch {
    return 'unknown (CFP)'
  }
}

/** The commands `motia` maps to; tests pass fakes. */
export interface MotiaCommands {
  dev: typeof runDev
  start: typeof runStart
  emit: typeof runEmit
  generateTypes: typeof runGenerateTypes
  create: typeof runCreate
  install: typeof runInstall
}

const REAL: MotiaCommands = {
  dev: runDev,
  start: runStart,
  emit: runEmit,
  generateTypes: runGenerateTypes,
  create: runCreate,
  install: runInstall,
}

export const MOTIA_SUBCOMMANDS = ['dev', 'start', 'emit', 'generate-types', 'create', 'install'] as const

function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number (0-65535)')
  return n
}

/** `-H` takes an optional value in Motia (`-H` alone keeps the default). */
function host(value: string | boolean | undefined): string {
  return typeof value === 'string' && value !== '' ? value : '127.0.0.1'
}

interface ServerFlags {
  port: number
  host?: string | boolean
  debug?: boolean
  disableVerbose?: boolean
  mermaid?: boolean
  motiaDir?: string
}

function noteIgnored(flags: ServerFlags, io: CommandIo): void {
  if (flags.motiaDir !== undefined) io.err(`motia: --motia-dir is ignored: CFP keeps its local data in .cfp/ of the project`)
  if (flags.mermaid) io.err('motia: --mermaid is ignored: the workbench draws the flows')
}

export function buildMotiaProgram(opts: { io?: CommandIo; commands?: Partial<MotiaCommands>; exit?: (code: number) => void } = {}): Command {
  const io = opts.io ?? processIo()
  const run: MotiaCommands = { ...REAL, ...opts.commands }
  const exit = opts.exit ?? ((code: number) => process.exit(code))
  const program = new Command('motia')
    .description("CFP's `motia` command: Motia's CLI mapped onto cfp (dev, start, emit, generate-types, create, install)")
    .version(version(), '-V, --version', 'output the version (of @cfp/cli)')
    .showHelpAfterError('(run `motia --help` for usage)')

  program
    .command('dev')
    .description('start the development server (cfp dev)')
    .option('-p, --port <port>', 'the port to run the server on', port, 3000)
    .option('-H, --host [host]', 'the host address for the server (CFP default: 127.0.0.1, loopback only)')
    .option('-d, --debug', 'enable debug logging (LOG_LEVEL=debug for the steps)')
    .option('-v, --disable-verbose', 'accepted; cfp dev prints step logs and failures')
    .option('-m, --mermaid', 'accepted and ignored')
    .option('--motia-dir <path>', 'accepted and ignored (CFP uses .cfp/)')
    .action(async (flags: ServerFlags) => {
      noteIgnored(flags, io)
      if (flags.debug) io.env.LOG_LEVEL = 'debug'
      exit(await run.dev({ port: flags.port, host: host(flags.host), dir: io.cwd }, io))
    })

  program
    .command('start')
    .description("run the project's steps in production: a CFP worker connected to a runtime (cfp start)")
    .option('--url <url>', 'worker endpoint of the runtime (or CFP_WORKER_URL), e.g. wss://runtime.example.com/__cfp/worker')
    .option('--token <token>', 'worker token (or CFP_WORKER_TOKEN)')
    .option('-p, --port <port>', 'accepted; a CFP worker listens on no port (the runtime does)', port)
    .option('-H, --host [host]', 'accepted; a CFP worker listens on no address')
    .option('-d, --debug', 'enable debug logging (LOG_LEVEL=debug for the steps)')
    .option('-v, --disable-verbose', 'accepted')
    .option('--motia-dir <path>', 'accepted and ignored')
    .action(async (flags: ServerFlags & { url?: string; token?: string }) => {
      noteIgnored(flags, io)
      const url = flags.url ?? io.env.CFP_WORKER_URL
      if (!url) {
        throw new CliError('motia start needs the runtime to connect to', {
          explanation:
            "On CFP, production is a runtime (the HTTP server, queues, state) and workers running the project's steps; `motia start` starts such a worker. Locally, `motia dev` runs everything.",
          action: 'Pass --url wss://<runtime>/__cfp/worker and --token (or set CFP_WORKER_URL and CFP_WORKER_TOKEN), or run `motia dev`.',
        })
      }
      if (flags.port !== undefined || flags.host !== undefined)
        io.err('motia: --port/--host are ignored by `motia start`: the runtime serves HTTP, not the worker')
      if (flags.debug) io.env.LOG_LEVEL = 'debug'
      exit(await run.start({ url, token: flags.token, dir: io.cwd }, io))
    })

  program
    .command('emit')
    .description('emit an event to the dev server (cfp emit)')
    .requiredOption('--topic <topic>', 'event topic to emit')
    .requiredOption('--message <message>', 'event payload as a JSON string')
    .option('-p, --port <number>', 'port of the dev server (default: the running `motia dev` of this project)', port)
    .action(async (flags: { topic: string; message: string; port?: number }) => {
      // Motia posts to localhost:<port>; CFP finds the running dev server (and its token) in .cfp/dev.json.
      if (flags.port !== undefined && !io.env.CFP_URL) {
        const { readDevFile, devFilePath } = await import('./util/dev-file.js')
        let url: string | undefined
        try {
          url = readDevFile(devFilePath(io.cwd)).url
        } catch {
          // no dev server of this project: cfp emit says so
        }
        if (url && new URL(url).port !== String(flags.port)) {
          throw new CliError(`the dev server of this project listens on ${url}, not on port ${flags.port}`, {
            action: `Run \`motia emit\` without --port, or with --port ${new URL(url).port}.`,
          })
        }
      }
      await run.emit({ topic: flags.topic, data: flags.message }, io)
    })

  program
    .command('generate-types')
    .description('generate types.d.ts for the project (cfp generate-types)')
    .action(async () => {
      exit(await run.generateTypes({ dir: io.cwd }, io))
    })

  program
    .command('create')
    .description('create a new project (cfp create)')
    .argument('[name]', 'directory to create')
    .option('-t, --template <template>', "accepted; CFP has one template (Motia's examples run unchanged on cfp dev)")
    .option('-p, --plugin', 'create a plugin project (not supported)')
    .option('-i, --interactive', 'accepted; creation asks nothing')
    .option('--skip-redis', 'accepted; CFP needs no Redis')
    .action((name: string | undefined, flags: { template?: string; plugin?: boolean }) => {
      if (flags.plugin) {
        throw new CliError('motia create --plugin is not supported by CFP', { action: 'Create a project with `motia create <name>`.' })
      }
      if (!name) {
        throw new CliError('motia create needs the project name', {
          explanation: 'CFP does not prompt: the name is the directory to create.',
          action: 'Run `motia create my-app`.',
        })
      }
      if (flags.template !== undefined) io.err(`motia: --template ${flags.template} is ignored: CFP creates its one template`)
      run.create(name, {}, io)
    })

  program
    .command('install')
    .description('prepare what the project needs: npm dependencies (and, once supported, the Python environment)')
    .option('-v, --verbose', 'say what is checked')
    .action(async (flags: { verbose?: boolean }) => {
      exit(await run.install({ dir: io.cwd, verbose: flags.verbose }, io))
    })

  program.on('command:*', (operands: string[]) => {
    const name = operands[0] ?? ''
    throw new CliError(`\`motia ${name}\` is not supported by CFP's motia command`, {
      explanation: `It maps ${MOTIA_SUBCOMMANDS.map((c) => `motia ${c}`).join(', ')} onto cfp.`,
      action: 'See `motia --help`, or `cfp --help` for what CFP offers (dlq, audit, …).',
    })
  })

  return program
}
