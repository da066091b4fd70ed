/**
 * Outbound requests to identity providers (OIDC discovery, token, userinfo and JWKS endpoints) go only to public
 * addresses. A tenant admin configures the issuer, and the discovery document names the other endpoints, so
 * without this a provider could make the control plane call cloud metadata (169.254.169.254), an internal
 * service or itself (SSRF).
 *
 * Every address the host name resolves to is checked, and the connection is made to a checked address (the
 * resolver is called at connect time, so a DNS answer that changes between a check and the connection — DNS
 * rebinding — is checked again). An IP-literal host is checked before anything is sent.
 *
 * - loopback (127.0.0.0/8, ::1): allowed with `--allow-loopback-idp` or `--allow-private-idp-addresses`;
 * - private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): allowed with `--allow-private-idp-addresses`
 *   (an IdP on the company network);
 * - link-local (169.254/16, fe80::/10: cloud metadata), unspecified, multicast and reserved ranges: never.
 *
 * @example
 * const fetch = guardedFetch({ allowLoopback: false, allowPrivate: false })
 * await fetch('https://169.254.169.254/latest', { method: 'GET', headers: {}, redirect: 'manual' }) // throws OutboundRefused
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { BlockList, isIP, type LookupFunction } from 'node:net'

export type AddressClass = 'public' | 'loopback' | 'private' | 'link-local' | 'reserved'

export interface OutboundPolicy {
  allowLoopback: boolean
  allowPrivate: boolean
}

/** The request was not sent: the host is (or resolves to) an address the policy refuses. */
export class OutboundRefused extends Error {
  constructor(
    readonly host: string,
    readonly addressClass: AddressClass,
  ) {
    super(`refused to connect to ${host}: it is (or resolves to) a ${addressClass} address`)
    this.name = 'OutboundRefused'
  }
}

function blockList(ranges: string[]): BlockList {
  const list = new BlockList()
  for (const r of ranges) {
    const [net, bits] = r.split('/') as [string, string]
    list.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4')
  }
  return list
}

const CLASSES: [Exclude<AddressClass, 'public'>, BlockList][] = [
  ['loopback', blockList(['127.0.0.0/8', '::1/128'])],
  ['link-local', blockList(['169.254.0.0/16', 'fe80::/10'])],
  ['private', blockList(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'])],
  [
    'reserved',
    blockList([
      '0.0.0.0/8',
      '192.0.0.0/24',
      '192.0.2.0/24',
      '198.18.0.0/15',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '224.0.0.0/4',
      '240.0.0.0/4',
      '::/128',
      '64:ff9b::/96',
      '64:ff9b:1::/48',
      '2001:db8::/32',
      'ff00::/8',
    ]),
  ],
]

/** What kind of address `ip` is (IPv4-mapped IPv6 addresses count as their IPv4 address). */
export function classifyAddress(ip: string): AddressClass {
  const family = isIP(ip)
  if (!family) return 'reserved'
  const type = family === 6 ? 'ipv6' : 'ipv4'
  for (const [cls, list] of CLASSES) if (list.check(ip, type)) return cls
  return 'public'
}

export function allowed(policy: OutboundPolicy, cls: AddressClass): boolean {
  if (cls === 'public') return true
  if (cls === 'loopback') return policy.allowLoopback || policy.allowPrivate
  if (cls === 'private') return policy.allowPrivate
  return false
}

/** A resolver for `net.connect` that resolves every address and refuses the host if any is not allowed. */
function checkedLookup(policy: OutboundPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0, hints: options.hints ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0)
      const refused = addresses.map((a) => classifyAddress(a.address)).find((cls) => !allowed(policy, cls))
      if (refused) return callback(new OutboundRefused(hostname, refused), '', 0)
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses)
      const first = addresses[0]!
      callback(null, first.address, first.family)
    })
  }
}

function bodyOf(body: unknown): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string' || body instanceof Uint8Array) return body
  if (body instanceof URLSearchParams) return body.toString()
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  throw new TypeError('unsupported request body')
}

/** At most this much of a response is read (discovery documents and JWKS are a few KiB). */
const MAX_RESPONSE_BYTES = 1024 * 1024

/**
 * A `fetch` for openid-client (`client.customFetch`) that connects only to allowed addresses. Redirects are not
 * followed (openid-client asks for `redirect: 'manual'`).
 */
export function guardedFetch(policy: OutboundPolicy) {
  return async (input: string | URL, init: { method?: string; headers?: HeadersInit; body?: unknown; signal?: AbortSignal | null } = {}): Promise<Response> => {
    const url = new URL(input)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`unsupported protocol ${url.protocol}`)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    if (isIP(host)) {
      const cls = classifyAddress(host)
      if (!allowed(policy, cls)) throw new OutboundRefused(host, cls)
    }
    const headers: Record<string, string> = {}
    new Headers(init.headers).forEach((v, k) => (headers[k] = v))
    const body = bodyOf(init.body)
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, {
        method: init.method ?? 'GET',
        headers,
        lookup: checkedLookup(policy),
        ...(init.signal ? { signal: init.signal } : {}),
      })
      req.once('response', resolve)
      req.once('error', reject)
      req.end(body)
    })
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > MAX_RESPONSE_BYTES) {
        res.destroy()
        throw new Error(`the response of ${url.host} is over ${MAX_RESPONSE_BYTES} bytes`)
      }
      chunks.push(chunk)
    }
    const out = new Headers()
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!)
    const status = res.statusCode ?? 502
    const nullBody = [101, 204, 205, 304].includes(status)
    const response = new Response(nullBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: out })
    // openid-client checks response.url against what it asked for in some places
    Object.defineProperty(response, 'url', { value: url.href })
    return response
  }
}
