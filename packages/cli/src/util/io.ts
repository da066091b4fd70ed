/**
 * What a command needs from the outside world, injectable so tests can capture output and fake the network.
 */
import type { FetchLike } from './runtime-api.js'

export interface CommandIo {
  out: (line: string) => void
  err: (line: string) => void
  env: NodeJS.ProcessEnv
  cwd: string
  fetch?: FetchLike
}

export function processIo(): CommandIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    cwd: process.cwd(),
  }
}
