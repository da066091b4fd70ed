// Anchors written through a real RFC 3161 authority (OpenSSL's `ts -reply` behind a loopback HTTP server), stored
// write-once, and checked by the verifier's own code.
import { execFileSync } from 'node:child_process'
import { X509Certificate, createHash, generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkAnchor } from './anchor.js'
import { anchorName, createAnchor, directoryAnchorStore, requestTimestamp, timestampQuery } from './anchor-write.js'
import { checkpointBody, rawPublicKey, signCheckpoint } from './checkpoint.js'
import { type LocalTsa, localTsa, serveTsa, type TsaServer } from './testing.js'

let tsa: LocalTsa
let server: TsaServer
let url: string
const { privateKey, publicKey } = generateKeyPairSync('ed25519')
const keys = [{ name: 'cfp-audit-control-1', publicKey: rawPublicKey(publicKey) }]
const note = (chain: string, size: number) =>
  signCheckpoint(checkpointBody(`cfp-audit/${chain}`, size, createHash('sha256').update(chain).digest()), keys[0]!.name, privateKey)

beforeAll(async () => {
  tsa = localTsa()
  server = await serveTsa(tsa)
  url = server.url
})

afterAll(() => server.close())

describe('writing anchors', () => {
  it('builds a TimeStampReq that OpenSSL reads back with the same digest', () => {
    const digest = createHash('sha256').update('x').digest()
    const file = join(tsa.dir, 'mine.tsq')
    writeFileSync(file, timestampQuery(digest, Buffer.from([0x80, 1, 2])))
    const text = execFileSync('openssl', ['ts', '-query', '-in', file, '-text'], { encoding: 'utf8' })
    const imprint = [...text.matchAll(/ - ((?:[0-9a-f]{2}[ -]){15}[0-9a-f]{2})/g)].map((m) => m[1]!.replace(/[ -]/g, '')).join('')
    expect(imprint).toBe(digest.toString('hex'))
    expect(text).toMatch(/Certificate required: yes/)
    expect(text).toMatch(/Nonce: 0x800102/)
  })

  it('timestamps the checkpoints of a plane, stores the anchor write-once, and the verifier accepts it', async () => {
    const trusted = [new X509Certificate(tsa.caPem)]
    const anchor = await createAnchor('control', [note('control:t_b', 7), note('control:t_a', 3)], (d) => requestTimestamp(d, { url, trusted }))
    expect(anchor.checkpoints.map((c) => c.split('\n')[0])).toEqual(['cfp-audit/control:t_a', 'cfp-audit/control:t_b'])
    expect(checkAnchor(anchor, keys, trusted)).toMatchObject({ ok: true, tsa: expect.stringContaining('CFP test TSA') })

    const dir = mkdtempSync(join(tmpdir(), 'cfp-anchors-'))
    const store = directoryAnchorStore(dir)
    const path = await store.put(anchorName(anchor), JSON.stringify(anchor))
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(anchor)
    expect(statSync(path).mode & 0o222).toBe(0)
    await expect(store.put(anchorName(anchor), '{}')).rejects.toThrow(/EEXIST/)
    await expect(store.put('../escape.json', '{}')).rejects.toThrow(/bad anchor name/)

    // an anchored checkpoint replaced afterwards no longer matches the timestamped digest
    const forged = { ...anchor, checkpoints: [anchor.checkpoints[0]!, note('control:t_b', 8)] }
    expect(checkAnchor(forged, keys, trusted)).toMatchObject({ ok: false, problem: expect.stringMatching(/digest/) })
  })

  it('refuses a TSA that is down, answers garbage, or is not the pinned one', async () => {
    const digest = createHash('sha256').update('y').digest()
    server.mode = 'error'
    await expect(requestTimestamp(digest, { url })).rejects.toThrow(/answered 503/)
    server.mode = 'garbage'
    await expect(requestTimestamp(digest, { url })).rejects.toThrow(/does not check out/)
    server.mode = 'ok'
    const stranger = localTsa()
    await expect(requestTimestamp(digest, { url, trusted: [new X509Certificate(stranger.caPem)] })).rejects.toThrow(/does not check out/)
    await expect(requestTimestamp(digest, { url: 'http://127.0.0.1:1/nothing', timeoutMs: 2000 })).rejects.toThrow(/not reachable/)
  })
})
