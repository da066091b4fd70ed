import { describe, expect, it } from 'vitest'
import { maskedOptions, parseOptions, validateOptions } from './options.js'

const KEY = Buffer.alloc(32, 7).toString('base64')

describe('options', () => {
  it('take defaults, then the environment, then flags', () => {
    const d = parseOptions([], { DATABASE_URL: 'postgres://x' }).options
    expect(d).toMatchObject({ host: '127.0.0.1', port: 4100, schema: 'cfp_control', accessTokenTtl: 900, regions: ['local'], publicUrl: 'http://127.0.0.1:4100' })
    const e = parseOptions(['--port', '5000'], { DATABASE_URL: 'postgres://x', CFP_CONTROL_PORT: '4200', CFP_CONTROL_REGIONS: 'eu-west, us-east' }).options
    expect(e.port).toBe(5000)
    expect(e.regions).toEqual(['eu-west', 'us-east'])
    expect(e.issuer).toBe('http://127.0.0.1:5000')
  })

  it('fail fast naming the option', () => {
    expect(() => parseOptions(['--access-token-ttl', '3600'], {})).toThrow(/--access-token-ttl: must be between 60 and 900/)
    expect(() => parseOptions(['--bogus'], {})).toThrow(/bogus/)
    const base = parseOptions([], { DATABASE_URL: 'postgres://x', CFP_CONTROL_MASTER_KEY: KEY }).options
    expect(() => validateOptions(base)).not.toThrow()
    expect(() => validateOptions({ ...base, masterKey: 'abc' })).toThrow(/--master-key/)
    expect(() => validateOptions({ ...base, databaseUrl: '' })).toThrow(/--database-url/)
    expect(() => validateOptions({ ...base, schema: 'x; drop table' })).toThrow(/--schema/)
    expect(() => validateOptions({ ...base, serviceToken: 'short' })).toThrow(/--service-token/)
  })

  it('mask secrets when printed', () => {
    const o = parseOptions([], { DATABASE_URL: 'postgres://u:secret@db/x', CFP_CONTROL_MASTER_KEY: KEY, CFP_CONTROL_SERVICE_TOKEN: 'abcdefghijklmnopq' }).options
    const printed = JSON.stringify(maskedOptions(o))
    expect(printed).not.toContain('secret@')
    expect(printed).not.toContain(KEY)
    expect(printed).not.toContain('abcdefghijklmnopq')
  })
})
