#!/usr/bin/env node
// cfp-audit-verify: checks an exported audit bundle offline, with nothing but Node.js.
//   cfp-audit-verify [--key VERIFIER_KEY]... [--tsa-cert PEM_FILE]... [--threads N] [--json] BUNDLE
// Exit 0: every chain, checkpoint and anchor verified. Exit 1: the first problem, naming chain, seq and finding.
// Exit 2: bad usage.
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { verifyBundle } from './bundle.js'

const USAGE = `usage: cfp-audit-verify [--key VERIFIER_KEY]... [--tsa-cert PEM_FILE]... [--threads N] [--json] BUNDLE

Verifies a CFP audit bundle (from \`cfp audit export\`) offline: every entry's leaf hash and prev link, sequence
numbers, chain membership, signed checkpoints (Ed25519, C2SP signed notes), consistency proofs, and anchors
(RFC 3161 time-stamp tokens). --key supplies the audit public keys you trust (otherwise the bundle's own are
used); --tsa-cert pins the time-stamping authority (its certificate or an issuer's); --threads parses and
hashes leaves in N worker threads.
Exit status: 0 intact, 1 a problem (chain, seq and finding printed), 2 usage.`

async function main(argv: string[]): Promise<number> {
  const keys: string[] = []
  const certs: X509Certificate[] = []
  let json = false
  let workers = 0
  let file: string | null = null
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--help' || a === '-h') {
      console.log(USAGE)
      return 0
    }
    if (a === '--json') json = true
    else if (a === '--threads' && i + 1 < argv.length && /^[0-9]{1,2}$/.test(argv[i + 1]!)) workers = Number(argv[++i])
    else if (a === '--key' && i + 1 < argv.length) keys.push(argv[++i]!)
    else if (a === '--tsa-cert' && i + 1 < argv.length) {
      const path = argv[++i]!
      try {
        const pem = readFileSync(path, 'utf8')
        for (const m of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) certs.push(new X509Certificate(m))
      } catch (e) {
        console.error(`cfp-audit-verify: cannot read the certificate ${path}: ${(e as Error).message}`)
        return 2
      }
      if (certs.length === 0) {
        console.error(`cfp-audit-verify: ${path} holds no PEM certificate`)
        return 2
      }
    } else if (!a.startsWith('-') && file === null) file = a
    else {
      console.error(USAGE)
      return 2
    }
  }
  if (!file) {
    console.error(USAGE)
    return 2
  }
  const r = await verifyBundle(file, { keys: keys.length ? keys : undefined, tsaCerts: certs, workers })
  if (json) console.log(JSON.stringify(r, null, 2))
  else {
    if (keys.length === 0) console.log("keys: the bundle's own (pass --key to check against keys you obtained independently)")
    if (certs.length === 0) console.log('time stamps: checked against the certificates the tokens carry (pass --tsa-cert to pin the authority)')
    for (const c of r.chains) {
      const range = c.size > c.from ? `seq ${c.from}..${c.size - 1}` : 'no entries'
      console.log(`chain ${c.chain}: ${range}, size ${c.size}, root ${c.root}, signed to ${c.checkpointed} (${c.checkpoints} checkpoints)`)
    }
    if (r.ok) {
      for (const a of r.anchors) console.log(`anchor ${a.time}: time-stamped ${a.genTime} by ${a.tsa}`)
      console.log(`OK: ${r.chains.length} chains, ${r.entries} entries, ${r.anchors.length} anchors verified`)
    } else {
      console.log(`FAILED: chain ${r.chain} seq ${r.seq}: ${r.finding} — ${r.detail}`)
    }
  }
  return r.ok ? 0 : 1
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    console.error(`cfp-audit-verify: ${(e as Error).message}`)
    process.exitCode = 1
  },
)
