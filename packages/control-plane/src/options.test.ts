import { describe, expect, it } from 'vitest'
import { maskedOptions, parseOptions, validateOptions } from './options.js'

const KEY = Buffer.alloc(32, 7).toString('base64')

describe('options', () => {
  it('take defaults, then the environment, then flags', () => {
    const d = parseOptions([], { DATABASE_URL: 'postgres://x' }).options
    expect(d).toMatchObject({
      host: '127.0.0.1',
      port: 4100,
      schema: 'cfp_control',
      accessTokenTtl: 900,
      regions: ['local'],
      publicUrl: 'http://127.0.0.1:4100',
    })
    const e = parseOptions(['--port', '5000'], { DATABASE_URL: 'postgres://x', CFP_CONTROL_PORT: '4200', CFP_CONTROL_REGIONS: 'eu-west, us-east' }).options
    expect(e.port).toBe(5000)
    expect(e.regions).toEqual(['eu-west', 'us-east'])
    expect(e.issuer).toBe('http://127.0.0.1:5000')
  })

  it('security alerts: defaults, webhook URLs repeated or listed, a secret required with them, responses checked', () => {
    const d = parseOptions([], { DATABASE_URL: 'postgres://x', CFP_CONTROL_MASTER_KEY: KEY }).options
    expect(d).toMatchObject({
      securityWebhookUrls: [],
      securityLoginFailures: 5,
      securityLoginWindow: 900,
      securityLockSeconds: 900,
      securityDeniedBurst: 20,
      securityDeniedWindow: 300,
      securityResponses: ['lock_password', 'revoke_sessions', 'disable_api_key'],
    })
    const f = parseOptions(
      [
        '--security-webhook-url',
        'https://a.example/hook',
        '--security-webhook-url',
        'https://b.example/x,http://10.0.0.5/y',
        '--security-webhook-secret',
        'sixteen-chars-at-least',
        '--security-responses',
        'none',
        '--security-login-failures',
        '3',
      ],
      { DATABASE_URL: 'postgres://x', CFP_CONTROL_MASTER_KEY: KEY },
    ).options
    expect(f.securityWebhookUrls).toEqual(['https://a.example/hook', 'https://b.example/x', 'http://10.0.0.5/y'])
    expect(f.securityResponses).toEqual([])
    expect(f.securityLoginFailures).toBe(3)
    expect(() => validateOptions(f)).not.toThrow()
    expect(JSON.stringify(maskedOptions(f))).not.toContain('sixteen-chars-at-least')
    expect(JSON.stringify(maskedOptions({ ...f, securityWebhookUrls: ['https://siem:hunter2@siem.example/x'] }))).not.toContain('hunter2')
    const env = parseOptions([], { DATABASE_URL: 'postgres://x', CFP_CONTROL_SECURITY_WEBHOOK_URL: 'https://c.example/h' }).options
    expect(env.securityWebhookUrls).toEqual(['https://c.example/h'])
    expect(() => validateOptions({ ...d, securityWebhookUrls: ['https://a.example/'] })).toThrow(/--security-webhook-secret: required/)
    expect(() => validateOptions({ ...f, securityWebhookUrls: ['ftp://a.example/'] })).toThrow(
      /--security-webhook-url: "ftp:\/\/a.example\/" is not an http\(s\) URL/,
    )
    expect(() => validateOptions({ ...d, securityResponses: ['lock_everything'] })).toThrow(/--security-responses: unknown response "lock_everything"/)
    expect(() => parseOptions(['--security-denied-burst', '0'], {})).toThrow(/--security-denied-burst: must be between 1/)
  })

  it('fail fast naming the option', () => {
    expect(() => parseOptions(['--access-token-ttl', '3600'], {})).toThrow(/--access-token-ttl: must be between 60 and 900/)
    expect(() => parseOptions(['--bogus'], {})).toThrow(/bogus/)
    const base = parseOptions([], { DATABASE_URL: 'postgres://x', CFP_CONTROL_MASTER_KEY: KEY }).options
    expect(() => validateOptions(base)).not.toThrow()
    expect(() => validateOptions({ ...base, masterKey: 'abc' })).toThrow(/--master-key/)
    expect(() => validateOptions({ ...base, databaseUrl: '' })).toThrow(/--database-url/)
    // audit anchoring needs both the authority and the write-once directory, and an http(s) authority
    expect(() => validateOptions({ ...base, auditTsaUrl: 'http://tsa.example/' })).toThrow(/--audit-tsa-url and --audit-anchor-dir go together/)
    expect(() => validateOptions({ ...base, auditAnchorDir: '/var/lib/cfp/anchors' })).toThrow(/go together/)
    expect(() => validateOptions({ ...base, auditTsaUrl: 'file:///x', auditAnchorDir: '/a' })).toThrow(
      /--audit-tsa-url: "file:\/\/\/x" is not an http\(s\) URL/,
    )
    expect(() => validateOptions({ ...base, auditTsaUrl: 'https://tsa.example/', auditAnchorDir: '/a' })).not.toThrow()
    expect(() => parseOptions(['--audit-anchor-interval', '1'], {})).toThrow(/--audit-anchor-interval: must be between 10/)
    expect(() => validateOptions({ ...base, trustedProxies: ['10.0.0.0/8', '192.0.2.1', 'fd00::/8'] })).not.toThrow()
    for (const bad of ['proxy.example', '10.0.0.0/33', '10.0.0.1/8/1', '']) {
      expect(() => validateOptions({ ...base, trustedProxies: [bad] }), bad).toThrow(/--trusted-proxies/)
    }
    expect(() => validateOptions({ ...base, schema: 'x; drop table' })).toThrow(/--schema/)
    expect(() => validateOptions({ ...base, serviceToken: 'short' })).toThrow(/--service-token/)
  })

  it('--runtime-urls: region=url pairs of known regions, http(s) origins only', () => {
    const env = { DATABASE_URL: 'postgres://x', CFP_CONTROL_MASTER_KEY: KEY, CFP_CONTROL_REGIONS: 'eu,us' }
    const o = parseOptions(['--runtime-urls', 'eu=https://rt.eu.example.com/, us=http://127.0.0.1:3000'], env).options
    expect(o.runtimeUrls).toEqual({ eu: 'https://rt.eu.example.com', us: 'http://127.0.0.1:3000' })
    expect(() => validateOptions(o)).not.toThrow()
    expect(parseOptions([], { ...env, CFP_CONTROL_RUNTIME_URLS: 'eu=http://a:1' }).options.runtimeUrls).toEqual({ eu: 'http://a:1' })
    expect(parseOptions([], env).options.runtimeUrls).toEqual({})
    expect(() => parseOptions(['--runtime-urls', 'https://rt.example.com'], env)).toThrow(/--runtime-urls: expected region=url/)
    expect(() => parseOptions(['--runtime-urls', 'eu=http://a,eu=http://b'], env)).toThrow(/--runtime-urls: region "eu" is named twice/)
    const bad = (v: string) => () => validateOptions(parseOptions(['--runtime-urls', v], env).options)
    expect(bad('ap=http://a')).toThrow(/--runtime-urls: region "ap" is not one of --regions/)
    expect(bad('eu=rt.example.com')).toThrow(/--runtime-urls: "rt.example.com" \(region eu\) is not a URL/)
    expect(bad('eu=ftp://rt.example.com')).toThrow(/--runtime-urls: .*http\(s\) origin/)
    expect(bad('eu=https://rt.example.com/api')).toThrow(/--runtime-urls: .*without path/)
    expect(bad('eu=https://u:p@rt.example.com')).toThrow(/--runtime-urls/)
  })

  it('mask secrets when printed', () => {
    const o = parseOptions([], {
      DATABASE_URL: 'postgres://u:secret@db/x',
      CFP_CONTROL_MASTER_KEY: KEY,
      CFP_CONTROL_SERVICE_TOKEN: 'abcdefghijklmnopq',
    }).options
    const printed = JSON.stringify(maskedOptions(o))
    expect(printed).not.toContain('secret@')
    expect(printed).not.toContain(KEY)
    expect(printed).not.toContain('abcdefghijklmnopq')
  })
})
