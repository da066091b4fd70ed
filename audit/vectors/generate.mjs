#!/usr/bin/env node
// Writes the audit chain's known-answer vectors (docs/audit.md "Known-answer vectors") into this folder:
//   canonical.json, tree.json, chain.json, checkpoint.json, tamper.json
// from packages/audit-verify (build it first: `npm run build -w packages/audit-verify`).
//   node audit/vectors/generate.mjs          writes them
//   node audit/vectors/generate.mjs --check  exits 1 when a file differs from what would be written
// Every value is deterministic (fixed inputs, a fixed Ed25519 seed; Ed25519 signatures are deterministic), so the
// files only change when the spec or this script does. The tree's first eight leaf inputs and the roots they give
// are the published RFC 6962 test data of transparency-dev/merkle (testonly/constants.go).
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as a from '../../packages/audit-verify/dist/index.js'
import { tamperCases } from './tamper-cases.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const hex = (b) => Buffer.from(b).toString('hex')
const sha = (s) => createHash('sha256').update(s).digest()

// --- canonical.json --------------------------------------------------------------------------------------------
const canonicalCases = [
  ['empty object', '{}'],
  ['empty array', '[]'],
  ['literals', '[null, true, false]'],
  ['RFC 8785 §3.2.2.3 numbers', '[333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001]'],
  ['RFC 8785 §3.2.4 example', '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}'],
  ['RFC 8785 §3.2.3 sorting by UTF-16 code units', '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}'],
  ['nested objects sorted at every level, arrays kept in order', '{"b": {"z": 1, "a": [3, 1, 2]}, "a": {"y": {"c": null, "b": true}}}'],
  ['integers', '[0, -0, 1, -1, 9007199254740991, -9007199254740991, 1000000, 100000000000000000000]'],
  ['exponent boundaries', '[1e20, 1e21, 1e-6, 1e-7, 123e-20, 1.5e300, -2.5e-300]'],
  ['shortest round trip', '[0.1, 0.2, 0.30000000000000004, 1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, 1.0, 100.0, 0.5]'],
  ['integer beyond 2^53 rounds to the nearest double', '[9007199254740993, 18446744073709551616]'],
  ['control characters', '"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f\\u0020\\u007f"'],
  ['escapes kept minimal: solidus, non-ASCII and U+2028 literal', '"\\/ é \\u2028 \\u2029 \\ud834\\udd1e \\uffff"'],
  ['quote and backslash', '"say \\"hi\\" \\\\ there"'],
  ['white space removed', ' { "a" : [ 1 , 2 ] ,\n\t"b" : { } } '],
  ['keys that differ only after a prefix', '{"aa": 1, "a": 2, "ab": 3, "": 4, "B": 5, "b": 6}'],
  ['an audit entry', '{"v":1,"seq":0,"chain":"control:t_1","time":"2026-12-07T17:10:01.123Z","kind":"project.create","actor":{"type":"user","id":"u_1","name":"Zoë","auth":"session"},"sid":"s_1","scope":{"tenant":"t_1","team":null,"project":"p_1"},"target":{"type":"project","id":"p_1"},"outcome":{"status":"ok","code":null},"request":{"id":"r_1","trace":null,"addr":"127.0.0.1","ua":"curl/8"},"details":{"name":"Shop","n":1.5},"prev":"' + a.ZERO_HASH + '"}'],
]
const canonicalInvalid = [
  ['lone high surrogate', '"\\ud800"'],
  ['lone low surrogate', '"a\\udc00b"'],
  ['lone surrogate in a member name', '{"\\ud800": 1}'],
  ['number overflows a double', '[1e400]'],
  ['negative number overflows a double', '[-1e400]'],
]
const canonical = {
  description:
    'RFC 8785 (JCS). Each case: parse `input` as JSON (I-JSON: no duplicate names), canonicalize, and compare with `output` byte for byte (UTF-8). Each invalid case must be refused (parse error or canonicalization error).',
  cases: canonicalCases.map(([name, input]) => ({ name, input, output: a.canonicalize(JSON.parse(input)) })),
  invalid: canonicalInvalid.map(([name, input]) => {
    let refused = false
    try {
      a.canonicalize(JSON.parse(input))
    } catch {
      refused = true
    }
    if (!refused) throw new Error(`invalid canonical case ${name} was accepted`)
    return { name, input }
  }),
}

// --- tree.json -------------------------------------------------------------------------------------------------
const rfcInputs = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f']
const inputs = [...rfcInputs, ...Array.from({ length: 9 }, (_, i) => hex(Buffer.from(`cfp audit leaf ${i + 8}`)))]
const leafHashes = inputs.map((x) => a.leafHash(Buffer.from(x, 'hex')))
const N = inputs.length
const tree = {
  description:
    'RFC 9162 §2.1 over SHA-256. leaves[i].input is hex bytes; leaf_hash = SHA-256(0x00 || input). roots[n] is MTH of the first n leaf hashes (n = 0..N). inclusion: PATH(leaf_index, D[0:tree_size]) leaf to root; consistency: PROOF(first, D[0:second]) (empty for first = 0 or first = second). The first eight inputs and their roots are the published RFC 6962 test data of transparency-dev/merkle.',
  leaves: inputs.map((x, i) => ({ input: x, leaf_hash: hex(leafHashes[i]) })),
  roots: Array.from({ length: N + 1 }, (_, n) => hex(a.merkleRoot(leafHashes.slice(0, n)))),
  inclusion: [],
  consistency: [],
}
for (let n = 1; n <= N; n++)
  for (let m = 0; m < n; m++) tree.inclusion.push({ leaf_index: m, tree_size: n, path: a.inclusionProof(leafHashes, m, n).map(hex) })
for (let n = 0; n <= N; n++) for (let m = 0; m <= n; m++) tree.consistency.push({ first: m, second: n, path: a.consistencyProof(leafHashes, m, n).map(hex) })

// --- chain.json ------------------------------------------------------------------------------------------------
const CHAIN = 'control:t_vectors'
const kinds = ['tenant.create', 'auth.login', 'project.create', 'api_key.create', 'membership.create', 'auth.login', 'settings.update', 'project.delete']
export function makeEntries(chain, count, seed = 0) {
  const out = []
  let prev = a.ZERO_HASH
  for (let i = 0; i < count; i++) {
    const e = {
      v: 1,
      chain,
      seq: i,
      time: new Date(Date.UTC(2026, 11, 7, 17, 10, 0, 0) + i * 1234 + seed).toISOString(),
      kind: kinds[(i + seed) % kinds.length],
      actor: i === 0 ? { type: 'system', id: null, name: null, auth: 'system' } : { type: 'user', id: `u_${i % 3}`, name: ['Ada', 'Zoë Ångström', '李雷'][i % 3], auth: 'session' },
      sid: i === 0 ? null : `s_${i % 3}`,
      scope: { tenant: chain.split(':')[1], team: i % 2 ? 'team_1' : null, project: i % 3 === 2 ? 'p_1' : null },
      target: i === 0 ? null : { type: 'project', id: `p_${i}` },
      outcome: i % 5 === 4 ? { status: 'denied', code: 'FORBIDDEN' } : { status: 'ok', code: null },
      request: { id: `req_${i}`, trace: i % 2 ? `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` : null, addr: '192.0.2.7', ua: 'Mozilla/5.0 "quoted" \\ back' },
      details: { i, ratio: i / 8, changed: ['name', 'description'], note: i === 3 ? 'tab\there\u2028line' : null, nested: { z: true, a: [] } },
      prev,
    }
    const leaf = a.entryLeaf(e)
    const h = hex(a.leafHash(leaf))
    out.push({ entry: e, leaf, leaf_hash: h })
    prev = h
  }
  return out
}
const chainEntries = makeEntries(CHAIN, 12)
const chainHashes = chainEntries.map((x) => Buffer.from(x.leaf_hash, 'hex'))
const base = chainEntries[1].entry
const boundCases = [
  ['nothing to cut', base],
  ['a 5,000-byte actor name', { ...base, actor: { ...base.actor, name: 'a'.repeat(5000) } }],
  ['3-byte characters are not split', { ...base, request: { ...base.request, ua: '\u20ac'.repeat(2000) } }],
  ['4-byte characters (surrogate pairs) are not split', { ...base, details: { s: '\ud83d\ude00'.repeat(1025) } }],
  ['a long string inside details', { ...base, details: { nested: { list: ['x'.repeat(4097)] } } }],
  ['the truncated flag itself pushes details over 16 KiB', { ...base, details: { a: 'y'.repeat(4097), b: 'y'.repeat(4096), c: 'y'.repeat(4096), d: 'y'.repeat(4060) } }],
  ['details over 16 KiB after cutting strings', { ...base, details: { a: 'y'.repeat(4000), b: 'y'.repeat(4000), c: 'y'.repeat(4000), d: 'y'.repeat(4000), e: 'y'.repeat(4000) } }],
]
const chain = {
  description:
    'Entries of one chain in seq order. For each: leaf = RFC 8785 of entry (UTF-8), leaf_hash = SHA-256(0x00 || leaf), entry.prev = the previous leaf_hash (64 zeros for seq 0), root = MTH of leaf hashes 0..seq (the root at size seq + 1). bounds: a writer bounds each entry before hashing (docs/audit.md "Entries"): input → output.',
  chain: CHAIN,
  zero_hash: a.ZERO_HASH,
  entries: chainEntries.map((x, i) => ({ ...x, root: hex(a.merkleRoot(chainHashes.slice(0, i + 1))) })),
  bounds: boundCases.map(([name, input]) => ({ name, input, output: a.boundEntry(input) })),
}

// --- checkpoint.json -------------------------------------------------------------------------------------------
const seed = sha('cfp audit known-answer vector key')
const KEY = 'cfp-audit-control-1'
const priv = a.privateKeyFromSeed(seed)
const pub = a.rawPublicKey(priv)
const seed2 = sha('cfp audit known-answer vector key 2')
const KEY2 = 'cfp-audit-control-2'
const priv2 = a.privateKeyFromSeed(seed2)
const pub2 = a.rawPublicKey(priv2)
const origin = `cfp-audit/${CHAIN}`
const note = (size) => a.signCheckpoint(a.checkpointBody(origin, size, a.merkleRoot(chainHashes.slice(0, size))), KEY, priv)
const goodNote = note(12)
const swapSig = (n, from, to) => n.replace(from, to)
const checkpoint = {
  description:
    'C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519 (RFC 8032, deterministic). key.seed is the 32-byte private seed; key_id = SHA-256(name || "\\n" || 0x01 || public_key)[0:4]; verifier_key = name+hex(key_id)+base64(0x01 || public_key). For each checkpoint, body = checkpointBody(origin, size, root) and note = the signed note by key; valid: a verifier given `keys` returns {origin, size, root} for each `verify` case with valid true, and refuses the others. external: the golang.org/x/mod/sumdb/note documentation example (an independent implementation) that the signer must reproduce byte for byte from its seed.',
  key: { name: KEY, seed: hex(seed), public_key: hex(pub), key_id: hex(a.keyId(KEY, pub)), verifier_key: a.formatVerifierKey(KEY, pub) },
  key2: { name: KEY2, seed: hex(seed2), public_key: hex(pub2), key_id: hex(a.keyId(KEY2, pub2)), verifier_key: a.formatVerifierKey(KEY2, pub2) },
  checkpoints: [1, 2, 7, 8, 12].map((size) => {
    const root = a.merkleRoot(chainHashes.slice(0, size))
    return { origin, size, root: hex(root), body: a.checkpointBody(origin, size, root), note: note(size) }
  }),
  verify: [
    { name: 'signed by the key', keys: [KEY], note: goodNote, valid: true, size: 12 },
    { name: 'signed by both keys (key rotation overlap)', keys: [KEY, KEY2], note: goodNote + a.signCheckpoint(a.checkpointBody(origin, 12, a.merkleRoot(chainHashes)), KEY2, priv2).split('\n\n')[1], valid: true, size: 12 },
    { name: 'an unknown key is ignored when a known one verifies', keys: [KEY], note: goodNote + a.signCheckpoint(a.checkpointBody(origin, 12, a.merkleRoot(chainHashes)), KEY2, priv2).split('\n\n')[1], valid: true, size: 12 },
    { name: 'signed only by a key the verifier does not know', keys: [KEY], note: a.signCheckpoint(a.checkpointBody(origin, 12, a.merkleRoot(chainHashes)), KEY2, priv2), valid: false },
    { name: 'body edited after signing (size)', keys: [KEY], note: goodNote.replace('\n12\n', '\n13\n'), valid: false },
    { name: 'body edited after signing (root)', keys: [KEY], note: goodNote.replace(/\n[A-Za-z0-9+/]{43}=\n/, `\n${a.merkleRoot(chainHashes.slice(0, 11)).toString('base64')}\n`), valid: false },
    { name: 'signature bytes replaced', keys: [KEY], note: swapSig(goodNote, goodNote.split(' ').pop().trim(), Buffer.concat([a.keyId(KEY, pub), Buffer.alloc(64, 7)]).toString('base64')), valid: false },
    { name: 'no empty line before the signature', keys: [KEY], note: goodNote.replace('\n\n', '\n'), valid: false },
    { name: 'hyphen instead of em dash', keys: [KEY], note: goodNote.replace('\u2014', '-'), valid: false },
    { name: 'no signature lines', keys: [KEY], note: a.checkpointBody(origin, 12, a.merkleRoot(chainHashes)) + '\n', valid: false },
    { name: 'body with a fourth line', keys: [KEY], note: a.signCheckpoint(`${a.checkpointBody(origin, 12, a.merkleRoot(chainHashes))}extra\n`, KEY, priv), valid: false },
    { name: 'size with a leading zero', keys: [KEY], note: a.signCheckpoint(`${origin}\n012\n${a.merkleRoot(chainHashes).toString('base64')}\n`, KEY, priv), valid: false },
  ],
  external: {
    source: 'golang.org/x/mod/sumdb/note package documentation (example signed note by PeterNeumann)',
    signer_key: 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz',
    verifier_key: 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
    text: "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
    note: "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
  },
}

// --- tamper.json -----------------------------------------------------------------------------------------------
const tamper = {
  description:
    'Chains with one defect each. Verify `entries` (in the order given) as chain `chain` with `checkpoints` (signed notes) and the verifier key of checkpoint.json `key` (and `key2` where listed), with the options given (complete defaults to true; start absent means seq 0; pruned: true means start is a pruning record, which a checkpoint of exactly its size must sign, else bad_prune). expect is {ok: true, size} or {ok: false, finding, seq}: the first problem, as docs/audit.md "Verification" defines it.',
  chain: CHAIN,
  keys: [checkpoint.key.verifier_key, checkpoint.key2.verifier_key],
  cases: tamperCases({ a, chain: CHAIN, entries: chainEntries, makeEntries, keys: { KEY, priv, KEY2, priv2 } }),
}

// --- write or check --------------------------------------------------------------------------------------------
const files = { 'canonical.json': canonical, 'tree.json': tree, 'chain.json': chain, 'checkpoint.json': checkpoint, 'tamper.json': tamper }
let stale = 0
for (const [name, value] of Object.entries(files)) {
  const text = JSON.stringify(value, null, 1) + '\n'
  const path = join(here, name)
  if (process.argv.includes('--check')) {
    let current = ''
    try {
      current = readFileSync(path, 'utf8')
    } catch {}
    if (current !== text) {
      console.error(`${name} differs from what generate.mjs writes`)
      stale++
    }
  } else {
    writeFileSync(path, text)
    console.log(`wrote audit/vectors/${name} (${text.length} bytes)`)
  }
}
if (stale) process.exit(1)
