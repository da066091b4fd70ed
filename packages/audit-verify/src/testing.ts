// `cfp-audit-verify/testing`: a local RFC 3161 time-stamping authority for tests of anchoring (needs the `openssl`
// command): `localTsa()` makes a CA and a TSA certificate, `serveTsa(tsa)` answers RFC 3161 over HTTP on loopback.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { LocalTsa } from './test-support/tsa.js'

export { type LocalTsa, localTsa } from './test-support/tsa.js'

export interface TsaServer {
  url: string
  /** what the next requests get: a time-stamp, a 503, or bytes that are not DER */
  mode: 'ok' | 'error' | 'garbage'
  close(): Promise<void>
}

/** Serves `tsa` over HTTP on 127.0.0.1 (POST application/timestamp-query → application/timestamp-reply). */
export async function serveTsa(tsa: LocalTsa): Promise<TsaServer> {
  let n = 0
  const server = createServer((req, res) => {
    const parts: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size <= 64 * 1024) parts.push(c)
    })
    req.on('end', () => {
      if (state.mode === 'error') return void res.writeHead(503).end()
      if (state.mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end('not DER')
      const q = join(tsa.dir, `q-${process.pid}-${n++}.tsq`)
      writeFileSync(q, Buffer.concat(parts))
      try {
        execFileSync('openssl', ['ts', '-reply', '-config', 'tsa.cnf', '-section', 'tsa_config', '-queryfile', q, '-out', `${q}.tsr`], {
          cwd: tsa.dir,
          stdio: 'pipe',
        })
        res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(readFileSync(`${q}.tsr`))
      } catch (e) {
        res.writeHead(500).end(String(e))
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const state: TsaServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tsa`,
    mode: 'ok',
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
  return state
}
