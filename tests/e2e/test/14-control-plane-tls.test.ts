/**
 * The runtime reaches a control plane behind TLS with a private CA and a client certificate (mTLS): a real
 * `cfp-runtime` with `--control-plane-ca`, `--control-plane-client-cert` and `--control-plane-client-key`, a
 * TLS terminator (Node's `tls`, requiring client certificates of the test CA) in front of the real control
 * plane, and certificates made by `openssl` for this run. Without the client certificate, or without the CA, the
 * handshake fails and the runtime answers token-checked requests with 503 rather than trusting anything.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, type AddressInfo, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../../../packages/control-plane/src/test-support/harness.js'
import { seedWorld, type World } from '../../../packages/control-plane/src/test-support/world.js'
import { ADMIN_DATABASE_URL, runtimeBin } from '../src/env.js'
import { dropSchema, issuerOf, runtimeTokens, startControlledRuntime, type ControlledRuntime } from '../src/controlled.js'
import { http } from '../src/util.js'

let h: Harness
let w: World
let dir = ''
let proxy: Server
let proxyUrl = ''
const handshakeErrors: string[] = []
const runtimes: ControlledRuntime[] = []
const schema = `rt_tls_${randomBytes(4).toString('hex')}`

const pem = (name: string) => join(dir, name)

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by that CA (EC P-256). */
function makeCertificates() {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=CFP test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  )
  for (const [name, usage, san] of [
    ['server', 'serverAuth', 'subjectAltName=IP:127.0.0.1'],
    ['client', 'clientAuth', 'subjectAltName=DNS:runtime.eu.cfp.test'],
  ] as const) {
    writeFileSync(pem(`${name}.ext`), `${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${usage}\n`)
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`)
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    )
  }
}

/** Starts a runtime with `args` added; resolves with its base URL once it printed ready. */
async function startRuntime(issuer: string, args: string[]): Promise<string> {
  const runtime = await startControlledRuntime(h, { schema, issuer, args, controlPlaneUrl: proxyUrl })
  runtimes.push(runtime)
  return runtime.base
}

const steps = async (base: string) =>
  http(`${base}/__cfp/api/steps`, {
    headers: { authorization: `Bearer ${await runtimeTokens(h)(w.byName('t_admin').token)}`, 'x-cfp-project': w.nodes.A1!.id as string },
  })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cfp-tls-'))
  makeCertificates()
  h = await createHarness({ listen: true })
  w = await seedWorld(h)
  const target = new URL(h.url)
  // TLS in front of the control plane: only clients with a certificate of the test CA get through.
  proxy = createServer(
    {
      key: readFileSync(pem('server.key')),
      cert: readFileSync(pem('server.pem')),
      ca: readFileSync(pem('ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      const upstream = connect(Number(target.port), target.hostname)
      socket.pipe(upstream).pipe(socket)
      socket.on('error', () => upstream.destroy())
      upstream.on('error', () => socket.destroy())
    },
  )
  proxy.on('tlsClientError', (e) => handshakeErrors.push(e.message))
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  proxyUrl = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`
}, 120_000)

afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()))
  proxy?.close()
  await h?.close()
  await dropSchema(schema)
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('the control plane behind TLS with a private CA and client certificates', () => {
  it('serves tokens checked through the control plane when the runtime trusts the CA and presents its certificate', async () => {
    const issuer = issuerOf(w.byName('sys').token)
    const base = await startRuntime(issuer, [
      '--control-plane-ca',
      pem('ca.pem'),
      '--control-plane-client-cert',
      pem('client.pem'),
      '--control-plane-client-key',
      pem('client.key'),
    ])
    const res = await steps(base)
    expect(res.status).toBe(200)
    // a forged token is still refused: TLS changes how the keys travel, not what is checked
    const forged = await http(`${base}/__cfp/api/steps`, {
      headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.', 'x-cfp-project': w.nodes.A1!.id as string },
    })
    expect(forged.status).toBe(401)
  })

  it('trusts nothing it cannot verify: without the client certificate or without the CA, token checks answer 503', async () => {
    const issuer = issuerOf(w.byName('sys').token)
    handshakeErrors.length = 0
    // both wait for the control plane up to 15 s before they print ready: start them together
    const [noClientCert, noCa] = await Promise.all([
      startRuntime(issuer, ['--control-plane-ca', pem('ca.pem')]),
      startRuntime(issuer, ['--control-plane-client-cert', pem('client.pem'), '--control-plane-client-key', pem('client.key')]),
    ])
    for (const base of [noClientCert, noCa]) {
      const res = await steps(base)
      expect(res.status).toBe(503)
      expect(JSON.stringify(res.json)).not.toMatch(/BEGIN|certificate verify/i)
    }
    // the terminator saw the handshake without a client certificate fail
    expect(
      handshakeErrors.some((e) => /certificate/i.test(e)),
      handshakeErrors.join('; '),
    ).toBe(true)
  }, 60_000)

  it('refuses a CA file that holds no certificate, naming the flag and the file', () => {
    writeFileSync(pem('empty.pem'), 'not a certificate\n')
    let out = ''
    try {
      execFileSync(
        runtimeBin(),
        [
          '--control-plane-url',
          proxyUrl,
          '--service-token',
          'x',
          '--control-plane-ca',
          pem('empty.pem'),
          '--database-url',
          ADMIN_DATABASE_URL,
          '--schema',
          schema,
          '--listen',
          '127.0.0.1:0',
        ],
        { stdio: 'pipe', timeout: 20_000 },
      )
    } catch (e) {
      out = String((e as { stderr?: Buffer }).stderr ?? '')
    }
    expect(out).toContain(`--control-plane-ca \`${pem('empty.pem')}\`: no PEM certificate`)
  })
})
