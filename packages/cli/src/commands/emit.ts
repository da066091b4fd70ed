/**
 * `cfp emit --topic T --data JSON [--group G] [--dir D]`: publishes an event through the dev server's admin
 * API (`POST /__cfp/api/emit`) and prints `{eventId, traceId}`.
 *
 * `--data` takes JSON text, `@file.json` or `-` (stdin), so large payloads need not travel as arguments.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { resolveTarget } from '../util/dev-file.js'
import { CliError, messageOf } from '../util/errors.js'
import type { CommandIo } from '../util/io.js'
import { RuntimeApi } from '../util/runtime-api.js'

export interface EmitOptions {
  topic: string
  data?: string
  group?: string
  dir?: string
  /** Reads stdin for `--data -`; injectable for tests. */
  readStdin?: () => string
}

export interface EmitResponse {
  eventId: string
  traceId: string
}

/** Parses the `--data` argument: JSON text, `@path` (a JSON file) or `-` (JSON on stdin). */
export function parseData(raw: string | undefined, cwd: string, readStdin: () => string): unknown {
  if (raw === undefined) return {}
  let text = raw
  let origin = '--data'
  if (raw === '-') {
    text = readStdin()
    origin = 'stdin'
  } else if (raw.startsWith('@')) {
    const path = resolve(cwd, raw.slice(1))
    try {
      text = readFileSync(path, 'utf8')
    } catch (cause) {
      throw new CliError(`Cannot read the --data file ${path}: ${messageOf(cause)}`, { cause })
    }
    origin = path
  }
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new CliError(`The event data from ${origin} is not valid JSON: ${messageOf(cause)}`, {
      explanation: `Received: ${text.length > 120 ? `${text.slice(0, 120)}…` : text}`,
      action: `Pass a JSON value, quoted for your shell: --data '{"name":"Ada"}', or --data @payload.json.`,
    })
  }
}

export async function runEmit(opts: EmitOptions, io: CommandIo): Promise<EmitResponse> {
  if (!opts.topic || opts.topic.trim() === '') {
    throw new CliError('--topic is empty', { action: 'Pass the topic to publish to, e.g. --topic hello.received.' })
  }
  const data = parseData(opts.data, io.cwd, opts.readStdin ?? (() => readFileSync(0, 'utf8')))
  const target = resolveTarget({ dir: resolve(io.cwd, opts.dir ?? '.'), env: io.env })
  const api = new RuntimeApi(target, io.fetch)
  const body: Record<string, unknown> = { topic: opts.topic, data }
  if (opts.group !== undefined) body.messageGroupId = opts.group
  const res = await api.request<EmitResponse>('POST', '/__cfp/api/emit', body)
  io.out(JSON.stringify(res))
  return res
}
