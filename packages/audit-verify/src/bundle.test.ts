// Bundles end to end: written by bundleLines, anchored by a local RFC 3161 TSA (OpenSSL), verified by verifyBundle
// and by the cfp-audit-verify command; then tampered with, on purpose and at random.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { X509Certificate, createHash } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  type AuditEntry,
  type StoredEntry,
  MerkleTree,
  ZERO_HASH,
  anchorDigest,
  bundleLines,
  checkpointBody,
  entryLeaf,
  formatVerifierKey,
  leafHash,
  privateKeyFromSeed,
  rawPublicKey,
  signCheckpoint,
  verifyBundle,
} from './index.js'
import { type LocalTsa, localTsa } from './test-support/tsa.js'

const cli = join(import.meta.dirname, '..', 'dist', 'cli.js')
const priv = privateKeyFromSeed(createHash('sha256').update('bundle test key').digest())
const KEY = 'cfp-audit-control-1'
const vkey = formatVerifierKey(KEY, rawPublicKey(priv))
const otherKey = formatVerifierKey(KEY, rawPublicKey(privateKeyFromSeed(Buffer.alloc(32, 3))))

function chainOf(chain: string, n: number) {
  const stored: StoredEntry[] = []
  const tree = new MerkleTree()
  let prev = ZERO_HASH
  for (let i = 0; i < n; i++) {
    const e: AuditEntry = {
      v: 1,
      chain,
      seq: i,
      time: new Date(Date.UTC(2026, 11, 7) + i * 1000).toISOString(),
      kind: 'project.update',
      actor: { type: 'user', id: `u_${i % 4}`, name: null, auth: 'session' },
      sid: `s_${i % 4}`,
      scope: { tenant: chain.split(':')[1]!, team: null, project: 'p_1' },
      target: { type: 'project', id: 'p_1' },
      outcome: { status: 'ok', code: null },
      request: { id: `r_${i}`, trace: null, addr: '198.51.100.4', ua: null },
      details: { changed: ['name'], i },
      prev,
    }
    const leaf = entryLeaf(e)
    const h = leafHash(leaf)
    tree.append(h)
    prev = h.toString('hex')
    stored.push({ leaf, leaf_hash: prev })
  }
  const checkpoints = [16, 32, n]
    .filter((s, i, a) => s <= n && a.indexOf(s) === i)
    .map((s) => signCheckpoint(checkpointBody(`cfp-audit/${chain}`, s, tree.root(s)), KEY, priv))
  return { stored, tree, checkpoints }
}

let tsa: LocalTsa
let good: string
let file: string
const A = chainOf('control:t_a', 50)
const B = chainOf('control:t_b', 20)

async function write(lines: string[], name: string): Promise<string> {
  const path = join(tmpdir(), `cfp-bundle-${process.pid}-${name}.jsonl`)
  writeFileSync(path, lines.join(''))
  return path
}

beforeAll(async () => {
  tsa = localTsa('ec')
  const time = '2026-12-07T18:00:00.000Z'
  const { checkpoints, digest } = anchorDigest('control', time, [A.checkpoints.at(-1)!, B.checkpoints.at(-1)!])
  const anchor = { v: 1 as const, plane: 'control', time, checkpoints, digest: digest.toString('hex'), tsr: tsa.stamp(digest).toString('base64') }
  const out: string[] = []
  for await (const l of bundleLines({
    created: time,
    plane: 'control',
    keys: [{ key: vkey }],
    chains: [
      { chain: 'control:t_a', complete: true, checkpoints: A.checkpoints, entries: A.stored },
      { chain: 'control:t_b', complete: true, checkpoints: B.checkpoints, entries: B.stored },
    ],
    anchors: [anchor],
  }))
    out.push(l)
  good = out.join('')
  file = await write(out, 'good')
  writeFileSync(join(tsa.dir, 'other-ca.crt'), localTsa('ec').caPem)
})

const lines = () => good.split(/(?<=\n)/)
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' })

describe('bundles', () => {
  it('verify intact, as a library and with the command', async () => {
    const r = await verifyBundle(file, { tsaCerts: [new X509Certificate(tsa.caPem)], keys: [vkey] })
    expect(r).toMatchObject({
      ok: true,
      entries: 70,
      chains: [
        { chain: 'control:t_a', size: 50, checkpointed: 50 },
        { chain: 'control:t_b', size: 20 },
      ],
    })
    expect(r.ok && r.anchors[0]!.tsa).toBe('CN=CFP test TSA')
    const p = run(['--key', vkey, '--tsa-cert', join(tsa.dir, 'ca.crt'), '--threads', '2', file])
    expect(p.stderr).toBe('')
    expect(p.status).toBe(0)
    expect(p.stdout).toMatch(/OK: 2 chains, 70 entries, 1 anchors verified/)
    expect(p.stdout).toContain(`chain control:t_a: seq 0..49, size 50, root ${A.tree.root().toString('hex')}`)
  })

  const tamper: [string, (l: string[]) => string[], string[], { chain: string; seq: number; finding: string }][] = [
    // Lines: 0 header, 1 key, 2 chain control:t_a, 3-5 its checkpoints (16, 32, 50), 6-55 its entries, 56 chain
    // control:t_b, 57-58 its checkpoints (16, 20), 59-78 its entries, 79 the anchor, 80 the end.
    ['an entry edited', (l) => l.map((x, i) => (i === 14 ? x.replace('\\"i\\":8', '\\"i\\":9') : x)), [], { chain: 'control:t_a', seq: 8, finding: 'edited' }],
    ['an entry deleted', (l) => l.filter((_, i) => i !== 14), [], { chain: 'control:t_a', seq: 8, finding: 'missing' }],
    ['two entries swapped', (l) => l.map((x, i) => (i === 14 ? l[15]! : i === 15 ? l[14]! : x)), [], { chain: 'control:t_a', seq: 8, finding: 'reordered' }],
    ['the tail of a chain cut', (l) => l.filter((_, i) => i < 54 || i > 55), [], { chain: 'control:t_a', seq: 48, finding: 'truncated' }],
    ['an entry moved to another chain', (l) => [...l.slice(0, 63), l[10]!, ...l.slice(63)], [], { chain: 'control:t_b', seq: 4, finding: 'moved' }],
    ['the bundle cut short', (l) => l.slice(0, -1), [], { chain: '-', seq: 0, finding: 'truncated' }],
    [
      'a checkpoint signature replaced',
      (l) => l.map((x, i) => (i === 3 ? x.replace(/ [A-Za-z0-9+/]{20}/, ' AAAAAAAAAAAAAAAAAAAA') : x)),
      [],
      { chain: 'control:t_a', seq: 15, finding: 'bad_checkpoint' },
    ],
    ['checkpoints checked against other keys', (l) => l, ['--key', otherKey], { chain: 'control:t_a', seq: 15, finding: 'bad_checkpoint' }],
    [
      'the anchor time altered',
      (l) => l.map((x) => (x.startsWith('{"type":"anchor"') ? x.replace('18:00:00', '18:00:01') : x)),
      [],
      { chain: 'control:t_a', seq: 49, finding: 'bad_anchor' },
    ],
    [
      'the anchor token replaced by one for another digest',
      (l) => l.map((x) => (x.startsWith('{"type":"anchor"') ? x.replace(/"tsr":"[^"]+"/, `"tsr":"${tsa.stamp(Buffer.alloc(32, 1)).toString('base64')}"`) : x)),
      [],
      { chain: 'control:t_a', seq: 49, finding: 'bad_anchor' },
    ],
    ['the anchor checked against another TSA', (l) => l, ['--tsa-cert', 'OTHER'], { chain: 'control:t_a', seq: 49, finding: 'bad_anchor' }],
  ]
  for (const [name, mutate, args, want] of tamper) {
    it(`names ${want.finding} when ${name}`, async () => {
      const path = await write(mutate(lines()), name.replaceAll(' ', '-'))
      const extra = args.map((a) => (a === 'OTHER' ? join(tsa.dir, 'other-ca.crt') : a))
      const p = run([...extra, '--json', path])
      expect(p.stderr).toBe('')
      expect(p.status, p.stdout).toBe(1)
      const r = JSON.parse(p.stdout)
      expect({ chain: r.chain, seq: r.seq, finding: r.finding }, r.detail).toEqual(want)
    })
  }

  it('never crashes on 400 randomly mutated bundles, and reports nearly all of them', async () => {
    let seed = 99
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    let detected = 0
    const findings = new Set<string>()
    for (let k = 0; k < 400; k++) {
      let text = good
      const kind = k % 5
      if (kind === 0) {
        const at = rnd(text.length)
        text = text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) ^ (1 << rnd(7))) + text.slice(at + 1)
      } else if (kind === 1) text = text.slice(0, rnd(text.length))
      else if (kind === 2) {
        const l = lines()
        l.splice(rnd(l.length), 1)
        text = l.join('')
      } else if (kind === 3) {
        const l = lines()
        const i = rnd(l.length)
        l.splice(rnd(l.length), 0, l[i]!)
        text = l.join('')
      } else {
        const at = rnd(text.length)
        text = text.slice(0, at) + ['\n', '{}', '\u0000', '"', '\u2014', 'null\n', '[1,2]\n'][rnd(7)] + text.slice(at)
      }
      const r = await verifyBundle([Buffer.from(text)], { keys: [vkey] })
      if (!r.ok) {
        detected++
        findings.add(r.finding)
        expect(typeof r.detail).toBe('string')
        expect(Number.isSafeInteger(r.seq)).toBe(true)
      }
    }
    expect(detected / 400).toBeGreaterThan(0.9)
    expect([...findings].sort().length).toBeGreaterThan(4)
  })

  it('refuses lines longer than 2 MiB without holding them', async () => {
    const huge = `${lines()[0]}{"type":"key","key":"${'A'.repeat(3 * 1024 * 1024)}"}\n`
    const r = await verifyBundle([Buffer.from(huge)])
    expect(r).toMatchObject({ ok: false, finding: 'malformed' })
  })

  it('takes the bundle from any byte stream, split anywhere', async () => {
    const bytes = readFileSync(file)
    const chunks = [bytes.subarray(0, 7), bytes.subarray(7, 5000), bytes.subarray(5000)]
    expect(await verifyBundle(chunks, { keys: [vkey] })).toMatchObject({ ok: true, entries: 70 })
  })
})
