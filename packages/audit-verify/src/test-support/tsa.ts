// A local RFC 3161 time-stamping authority for tests, built on OpenSSL's `ts` command: a CA, a TSA certificate
// (extendedKeyUsage critical timeStamping) and `stamp(digest)` giving a DER TimeStampResp for a SHA-256 digest.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface LocalTsa {
  dir: string
  caPem: string
  tsaPem: string
  stamp(digest: Buffer): Buffer
}

export function localTsa(keyType: 'rsa' | 'ec' = 'ec'): LocalTsa {
  const dir = mkdtempSync(join(tmpdir(), 'cfp-tsa-'))
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const keyArgs = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
  writeFileSync(
    join(dir, 'ext.cnf'),
    ['[tsa_ext]', 'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=critical,timeStamping', ''].join('\n'),
  )
  run('req', '-x509', ...keyArgs, '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=CFP test TSA root')
  run('req', ...keyArgs, '-nodes', '-keyout', 'tsa.key', '-out', 'tsa.csr', '-subj', '/CN=CFP test TSA')
  run(
    'x509',
    '-req',
    '-in',
    'tsa.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'tsa.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
    '-extensions',
    'tsa_ext',
  )
  writeFileSync(
    join(dir, 'tsa.cnf'),
    [
      '[tsa]',
      'default_tsa = tsa_config',
      '[tsa_config]',
      `dir = ${dir}`,
      'serial = $dir/serial',
      'signer_cert = $dir/tsa.crt',
      'signer_key = $dir/tsa.key',
      'signer_digest = sha256',
      'default_policy = 1.2.3.4.1',
      'digests = sha256',
      'accuracy = secs:1',
      'ess_cert_id_alg = sha256',
      'ordering = no',
      'tsa_name = no',
      'ess_cert_id_chain = no',
      '',
    ].join('\n'),
  )
  writeFileSync(join(dir, 'serial'), '01\n')
  return {
    dir,
    caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    tsaPem: readFileSync(join(dir, 'tsa.crt'), 'utf8'),
    stamp(digest: Buffer): Buffer {
      run('ts', '-query', '-digest', digest.toString('hex'), '-sha256', '-cert', '-no_nonce', '-out', 'q.tsq')
      run('ts', '-reply', '-config', 'tsa.cnf', '-section', 'tsa_config', '-queryfile', 'q.tsq', '-out', 'r.tsr')
      return readFileSync(join(dir, 'r.tsr'))
    },
  }
}
