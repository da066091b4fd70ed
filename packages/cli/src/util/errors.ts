/**
 * Errors the CLI shows to a person: what happened, why, and what to do.
 *
 * Every command throws `CliError` for conditions the user can act on; `main.ts` prints it (without a stack
 * trace) and exits with `exitCode`. Anything else is a bug and is printed with its stack.
 *
 * @example
 * throw new CliError('No runtime binary found', {
 *   explanation: 'cfp dev needs the cfp-runtime executable.',
 *   action: 'Run `cargo build --release -p cfp-runtime`, or set CFP_RUNTIME_BIN.',
 * })
 */
export interface CliErrorDetails {
  /** Why it happened, in one or two sentences. */
  explanation?: string
  /** What the user should do next. */
  action?: string
  /** Process exit code; 1 unless said otherwise. */
  exitCode?: number
  cause?: unknown
}

export class CliError extends Error {
  readonly explanation: string | undefined
  readonly action: string | undefined
  readonly exitCode: number

  constructor(message: string, details: CliErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'CliError'
    this.explanation = details.explanation
    this.action = details.action
    this.exitCode = details.exitCode ?? 1
  }
}

/** Renders an error for the terminal: `error: …` then the explanation and the suggested action. */
export function formatError(err: unknown): string {
  if (err instanceof CliError) {
    const lines = [`error: ${err.message}`]
    if (err.explanation) lines.push(`  ${err.explanation}`)
    if (err.action) lines.push(`  → ${err.action}`)
    return lines.join('\n')
  }
  if (err instanceof Error) {
    return `error: ${err.message}\n${err.stack ?? ''}\n  This looks like a bug in cfp; please report it with the output above.`
  }
  return `error: ${String(err)}`
}

/** The message of any thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
