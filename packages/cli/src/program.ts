/**
 * The `cfp` command tree (commander). Each action delegates to a `run*` function in `commands/`, which
 * throws `CliError` for problems the user can fix; `main.ts` turns those into a message and an exit code.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { runAuditAnchor, runAuditExport, runAuditVerify } from './commands/audit.js'
import { runAuditHoldList, runAuditHoldPlace, runAuditHoldRelease, runAuditRetention } from './commands/audit-retention.js'
import { runCreate } from './commands/create.js'
import { runDev } from './commands/dev.js'
import { runDlqDiscard, runDlqList, runDlqReplay } from './commands/dlq.js'
import { runEmit } from './commands/emit.js'
import { runGenerateTypes } from './commands/generate-types.js'
import { runSloExport, runSloImport, runSloRules, runSloStatus } from './commands/slo.js'
import { runStart } from './commands/start.js'
import { processIo } from './util/io.js'
import { cliPackageRoot } from './util/paths.js'

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(cliPackageRoot(), 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number (0-65535)')
  return n
}

/** Builds the program; `exit` receives each command's exit code. */
export function buildProgram(exit: (code: number) => void = (code) => process.exit(code)): Command {
  const io = processIo()
  const program = new Command('cfp')
    .description('CFP — Motia-compatible steps on a durable runtime')
    .version(version(), '-v, --version')
    .showHelpAfterError('(run `cfp --help` for usage)')

  program
    .command('create')
    .description('create a new project from the template')
    .argument('<dir>', 'directory to create (must not exist, or be empty)')
    .action((dir: string) => {
      runCreate(dir, {}, io)
    })

  program
    .command('dev')
    .description('run PostgreSQL, the runtime and a worker for this project, reloading on change')
    .addOption(new Option('-p, --port <port>', 'HTTP port of the runtime').default(3000).argParser(port))
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('-d, --dir <dir>', 'project directory').default('.'))
    .option('--no-types', 'do not refresh types.d.ts on start')
    .option('--verbose', 'show PostgreSQL routine log lines too')
    .option('--require-auth', 'enforce what production enforces: no loopback trust, every request needs a token (or set CFP_REQUIRE_AUTH=true)')
    .action(async (opts: { port: number; host: string; dir: string; types: boolean; verbose?: boolean; requireAuth?: boolean }) => {
      exit(
        await runDev({ port: opts.port, host: opts.host, dir: opts.dir, generateTypes: opts.types, verbose: opts.verbose, requireAuth: opts.requireAuth }, io),
      )
    })

  program
    .command('start')
    .description('run a production worker for this project against a runtime')
    .requiredOption('--url <url>', 'worker endpoint of the runtime, e.g. wss://runtime.example.com/__cfp/worker')
    .option('--token <token>', 'worker token for this project (or set CFP_WORKER_TOKEN)')
    .option('-d, --dir <dir>', 'project directory', '.')
    .action(async (opts: { url: string; token?: string; dir: string }) => {
      exit(await runStart(opts, io))
    })

  program
    .command('emit')
    .description('publish an event to the dev server (CFP_URL/CFP_TOKEN or .cfp/dev.json)')
    .requiredOption('-t, --topic <topic>', 'topic to publish to')
    .option('--data <json>', 'event data: JSON text, @file.json, or - for stdin (default {})')
    .option('-g, --group <id>', 'messageGroupId, for FIFO subscribers')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (opts: { topic: string; data?: string; group?: string; dir?: string }) => {
      await runEmit(opts, io)
    })

  const dlq = program.command('dlq').description('the dead-letter queue of the dev server')
  dlq
    .command('list')
    .description('list dead-lettered events')
    .option('-s, --step <name>', 'only this step')
    .option('--json', 'print JSON instead of a table')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (opts: { step?: string; json?: boolean; dir?: string }) => {
      await runDlqList(opts, io)
    })
  dlq
    .command('replay')
    .description('deliver a dead-lettered event again')
    .argument('<id>', 'entry id (from `cfp dlq list`)')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (id: string, opts: { dir?: string }) => {
      await runDlqReplay(id, opts, io)
    })
  dlq
    .command('discard')
    .description('delete a dead-lettered event')
    .argument('<id>', 'entry id (from `cfp dlq list`)')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (id: string, opts: { dir?: string }) => {
      await runDlqDiscard(id, opts, io)
    })

  const slo = program.command('slo').description("the project's SLOs on the dev server (docs/slo.md)")
  slo
    .command('status')
    .description('each SLI: value, error budget left, open alerts')
    .option('--json', 'print JSON instead of a table')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (opts: { json?: boolean; dir?: string }) => {
      await runSloStatus(opts, io)
    })
  slo
    .command('rules')
    .description('print Prometheus recording and alerting rules equivalent to the built-in evaluator')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (opts: { dir?: string }) => {
      await runSloRules(opts, io)
    })
  slo
    .command('export')
    .description('print the SLOs as OpenSLO v1 YAML')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (opts: { dir?: string }) => {
      await runSloExport(opts, io)
    })
  slo
    .command('import')
    .description("set the project's SLO overrides from OpenSLO v1 YAML")
    .argument('<file>', 'OpenSLO YAML (one or more documents)')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (file: string, opts: { dir?: string }) => {
      await runSloImport(file, opts, io)
    })

  program
    .command('generate-types')
    .description("write types.d.ts (Handlers['StepName'], streams) from the project's step configs")
    .option('-d, --dir <dir>', 'project directory', '.')
    .option('-q, --quiet', 'print only warnings and errors')
    .action(async (opts: { dir: string; quiet?: boolean }) => {
      exit(await runGenerateTypes(opts, io))
    })

  const audit = program.command('audit').description('the tamper-evident audit chains of the control plane and the runtime')
  const collect = (value: string, previous: string[] = []) => [...previous, value]
  audit
    .command('verify')
    .description('recompute every audit chain in the given databases; exit 0 when intact, 1 naming the first problem')
    .option('--database-url <url>', 'a plane’s PostgreSQL URL (repeat for both planes; default DATABASE_URL or the running cfp dev)', collect)
    .option('--schema <name>', 'only this schema (default: every schema holding audit tables)')
    .option('--tenant <id>', 'only this tenant’s chains')
    .option('--anchors <dir>', 'also check the anchors written to this directory')
    .option('--tsa-cert <file>', 'PEM certificate(s) of the time-stamping authority (repeatable)', collect)
    .option('--json', 'print the result as JSON')
    .option('-d, --dir <dir>', 'project directory (to find the running cfp dev)')
    .action(async (opts: { databaseUrl?: string[]; schema?: string; tenant?: string; anchors?: string; tsaCert?: string[]; json?: boolean; dir?: string }) => {
      exit(await runAuditVerify(opts, io))
    })
  audit
    .command('export')
    .description('write a bundle of one tenant’s chains that `npx cfp-audit-verify FILE` checks offline')
    .requiredOption('--tenant <id>', 'the tenant to export')
    .requiredOption('--out <file>', 'bundle file to write (JSON Lines)')
    .option('--from <time>', 'first entry time (ISO 8601), inclusive')
    .option('--to <time>', 'last entry time (ISO 8601), exclusive')
    .option('--database-url <url>', 'a plane’s PostgreSQL URL (repeat for both planes)', collect)
    .option('--schema <name>', 'only this schema')
    .option('--anchors <dir>', 'include the anchors found in this directory')
    .option('--force', 'overwrite --out')
    .option('-d, --dir <dir>', 'project directory (to find the running cfp dev)')
    .action(
      async (opts: {
        tenant: string
        out: string
        from?: string
        to?: string
        databaseUrl?: string[]
        schema?: string
        anchors?: string
        force?: boolean
        dir?: string
      }) => {
        exit(await runAuditExport(opts, io))
      },
    )
  audit
    .command('anchor')
    .description('timestamp the latest checkpoint of every chain with an RFC 3161 authority and store the anchor write-once')
    .requiredOption('--tsa-url <url>', 'the time-stamping authority (RFC 3161 over HTTP)')
    .requiredOption('--out <dir>', 'directory the anchors are written to (never overwritten)')
    .option('--tsa-cert <file>', 'PEM certificate(s) of the authority or its issuer to pin (repeatable)', collect)
    .option('--database-url <url>', 'a plane’s PostgreSQL URL (repeat for both planes)', collect)
    .option('--schema <name>', 'only this schema')
    .option('-d, --dir <dir>', 'project directory (to find the running cfp dev)')
    .action(async (opts: { tsaUrl: string; out: string; tsaCert?: string[]; databaseUrl?: string[]; schema?: string; dir?: string }) => {
      exit(await runAuditAnchor(opts, io))
    })
  audit
    .command('retention')
    .description('show the audit retention of the runtime’s tenant (and its holds, pruned ranges), or set it')
    .option('--days <n>', 'keep audit entries this many days (at least the runtime’s floor; needs the platform’s permission)')
    .option('--default', 'fall back to the runtime’s default retention')
    .option('--tenant <id>', 'this tenant (default: the tenant of the running project)')
    .option('--json', 'print JSON')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (opts: { days?: string; default?: boolean; tenant?: string; json?: boolean; dir?: string }) => {
      await runAuditRetention(opts, io)
    })
  const hold = audit.command('hold').description('legal holds: while one is in force, nothing of the tenant’s audit chain is pruned')
  hold
    .command('place')
    .description('place a legal hold')
    .requiredOption('--reason <text>', 'why the evidence must be kept (1 to 1000 characters)')
    .option('--tenant <id>', 'this tenant (default: the tenant of the running project)')
    .option('--json', 'print JSON')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (opts: { reason: string; tenant?: string; json?: boolean; dir?: string }) => {
      await runAuditHoldPlace(opts, io)
    })
  hold
    .command('release')
    .description('release a legal hold (needs the platform’s permission; the hold is kept, released)')
    .argument('<id>', 'hold id (from `cfp audit hold list`)')
    .option('--tenant <id>', 'this tenant (default: the tenant of the running project)')
    .option('--json', 'print JSON')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (id: string, opts: { tenant?: string; json?: boolean; dir?: string }) => {
      await runAuditHoldRelease(id, opts, io)
    })
  hold
    .command('list')
    .description('list the legal holds, in force and released')
    .option('--tenant <id>', 'this tenant (default: the tenant of the running project)')
    .option('--json', 'print JSON')
    .option('-d, --dir <dir>', 'project directory (to find .cfp/dev.json)')
    .action(async (opts: { tenant?: string; json?: boolean; dir?: string }) => {
      await runAuditHoldList(opts, io)
    })

  return program
}
