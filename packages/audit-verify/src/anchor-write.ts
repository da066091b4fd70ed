// Writing anchors (docs/audit.md "Anchors"): the latest checkpoints of a plane bound into one digest, timestamped by
// an RFC 3161 authority over HTTP, checked, and stored write-once. Used by `cfp audit anchor` and the control plane's
// hourly anchoring; a verifier never needs this file.
import type { X509Certificate } from 'node:crypto'
import { constants, mkdirSync, openSync, writeSync, fsyncSync, closeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type Anchor, anchorDigest } from './anchor.js'
import { checkTimestamp } from './tsr.js'

/** DER length octets. */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body])
}

/** AlgorithmIdentifier { id-sha256, NULL } */
const SHA256_ALGORITHM = Buffer.from('300d06096086480165030402010500', 'hex')

/**
 * An RFC 3161 TimeStampReq for a SHA-256 digest: version 1, the message imprint, a nonce when given, certReq TRUE
 * (the response carries the TSA's certificate, so a verifier holding only the TSA's root can check it).
 */
export function timestampQuery(digest: Buffer, nonce?: Buffer): Buffer {
  if (digest.length !== 32) throw new RangeError('a SHA-256 digest is 32 bytes')
  const parts = [der(0x02, Buffer.from([1])), der(0x30, SHA256_ALGORITHM, der(0x04, digest))]
  if (nonce) {
    let n = nonce
    while (n.length > 1 && n[0] === 0) n = n.subarray(1)
    if (n[0]! & 0x80) n = Buffer.concat([Buffer.from([0]), n])
    parts.push(der(0x02, n))
  }
  parts.push(Buffer.from([0x01, 0x01, 0xff]))
  return der(0x30, ...parts)
}

export interface TimestampOptions {
  /** the time-stamping authority's URL (RFC 3161 over HTTP: POST application/timestamp-query) */
  url: string
  /** pinned certificates of the TSA or its issuers; the reply is refused unless it checks out against them */
  trusted?: X509Certificate[]
  timeoutMs?: number
  fetch?: typeof fetch
}

/** Asks the TSA to timestamp `digest`; returns the DER TimeStampResp after checking it. Throws with a reason. */
export async function requestTimestamp(digest: Buffer, opts: TimestampOptions): Promise<Buffer> {
  const doFetch = opts.fetch ?? globalThis.fetch
  let res: Response
  try {
    res = await doFetch(opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
      body: new Uint8Array(timestampQuery(digest)),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
      redirect: 'error',
    })
  } catch (e) {
    throw new Error(`the time-stamping authority ${opts.url} is not reachable: ${(e as Error).message}`)
  }
  if (!res.ok) throw new Error(`the time-stamping authority ${opts.url} answered ${res.status}`)
  const body = Buffer.from(await res.arrayBuffer())
  if (body.length > 1024 * 1024) throw new Error('the time-stamp response is larger than 1 MiB')
  const check = checkTimestamp(body, digest, opts.trusted ?? [])
  if (!check.ok) throw new Error(`the time-stamp response does not check out: ${check.problem}`)
  return body
}

/** Builds the anchor of `plane` over `checkpoints` (signed notes; sorted here) and has it timestamped. */
export async function createAnchor(plane: string, checkpoints: string[], stamp: (digest: Buffer) => Promise<Buffer>, now: Date = new Date()): Promise<Anchor> {
  if (!/^[a-z]{1,32}$/.test(plane)) throw new RangeError(`plane ${JSON.stringify(plane)} is not a plane name`)
  if (checkpoints.length === 0) throw new RangeError('an anchor binds at least one checkpoint')
  const time = now.toISOString()
  const { checkpoints: sorted, digest } = anchorDigest(plane, time, checkpoints)
  const tsr = await stamp(digest)
  return { v: 1, plane, time, checkpoints: sorted, digest: digest.toString('hex'), tsr: tsr.toString('base64') }
}

/** Where anchors go: write-once. */
export interface AnchorStore {
  /** Stores `body` under `name`; refuses (throws) when the name exists. Returns where it went. */
  put(name: string, body: string): Promise<string>
}

/** The object name of an anchor: `anchors/<plane>/<time>-<digest>.json` (the time with `:` made file-safe). */
export function anchorName(anchor: Anchor): string {
  return `anchors/${anchor.plane}/${anchor.time.replace(/:/g, '-')}-${anchor.digest}.json`
}

/**
 * A local directory as a write-once store: files are created exclusively (an existing name is refused, never
 * replaced), written, fsynced, and made read-only. In production use S3 with Object Lock (docs/audit.md).
 */
export function directoryAnchorStore(root: string): AnchorStore {
  return {
    async put(name, body) {
      if (name.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new RangeError(`bad anchor name ${name}`)
      const path = join(root, name)
      mkdirSync(dirname(path), { recursive: true })
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o444)
      try {
        writeSync(fd, body)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      return path
    },
  }
}
