/**
 * An API step's `req.body` from its input (docs/protocol.md, "API input"). A protocol 1 input carries the body the
 * runtime parsed; a protocol 2 input carries only the bytes and `bodyFrom`, and the worker parses them exactly as
 * the runtime does (`crates/protocol/src/body.rs`): JSON the runtime already checked, UTF-8 text with invalid
 * sequences replaced by U+FFFD (the same replacement as Rust's `String::from_utf8_lossy`), or `null`.
 */
import { createHash } from 'node:crypto'
import type { ApiInput } from '../frame-types.js'

type Ref = NonNullable<ApiInput['rawBodyRef']>
/** One `payload.get` call: `{key, offset}` → `{data (base64, at most 256 KiB), offset, size}`. */
export type ReadChunk = (params: { key: string; offset: number }) => Promise<unknown>

/**
 * The bytes of a body the runtime stored (`rawBodyRef`, above the payload threshold), read chunk by chunk with
 * `payload.get` and checked against the reference's size and SHA-256.
 */
export async function storedBody(ref: Ref, read: ReadChunk): Promise<Buffer> {
  const chunks: Buffer[] = []
  let offset = 0
  while (offset < ref.size) {
    const answer = (await read({ key: ref.key, offset })) as { data?: unknown; size?: unknown }
    if (typeof answer?.data !== 'string' || answer.size !== ref.size) {
      throw new Error(`payload.get of the request body answered ${JSON.stringify({ size: answer?.size })}; expected ${ref.size} bytes`)
    }
    const chunk = Buffer.from(answer.data, 'base64')
    if (chunk.length === 0) throw new Error(`payload.get of the request body ended at ${offset} of ${ref.size} bytes`)
    chunks.push(chunk)
    offset += chunk.length
  }
  const raw = Buffer.concat(chunks, offset)
  const digest = createHash('sha256').update(raw).digest('hex')
  if (raw.length !== ref.size || digest !== ref.sha256) {
    throw new Error(`the request body read (${raw.length} bytes, sha256 ${digest}) is not the one referenced (${ref.size} bytes, sha256 ${ref.sha256})`)
  }
  return raw
}

/** The request's bytes: `rawBody` decoded, or the stored body read. */
export async function rawBytes(input: ApiInput, read: ReadChunk): Promise<Buffer> {
  return input.rawBodyRef ? storedBody(input.rawBodyRef, read) : Buffer.from(input.rawBody ?? '', 'base64')
}

export function requestBody(input: ApiInput, raw: Buffer): unknown {
  if (input.bodyFrom === undefined) return input.body
  switch (input.bodyFrom) {
    case 'json':
      return JSON.parse(raw.toString('utf8'))
    case 'text':
      return raw.toString('utf8')
    default:
      return null
  }
}
