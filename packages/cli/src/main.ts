#!/usr/bin/env node
/**
 * `cfp`: the CFP command line.
 *
 *   cfp create <dir>                      new project from the template
 *   cfp dev [--port] [--host] [--dir]     PostgreSQL + runtime + worker on this machine
 *   cfp start --url --token [--dir]       a production worker for a remote runtime
 *   cfp emit --topic --data [--group]     publish an event to the dev server
 *   cfp dlq list|replay|discard           inspect and act on the dead-letter queue
 *   cfp generate-types [--dir]            write types.d.ts for Handlers['StepName']
 */
import { buildProgram } from './program.js'
import { formatError } from './util/errors.js'

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (err) {
    process.stderr.write(`${formatError(err)}\n`)
    process.exit((err as { exitCode?: number }).exitCode ?? 1)
  }
}

await main()
