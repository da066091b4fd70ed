import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { devFilePath, isProcessAlive, readDevFile, removeDevFile, resolveTarget, writeDevFile } from './dev-file.js'

const tmp = () => mkdtempSync(join(tmpdir(), 'cfp-devfile-'))
const info = { url: 'http://127.0.0.1:3000', adminToken: 'secret', pid: process.pid }

describe('dev.json', () => {
  it('is written with mode 0600 and read back', () => {
    const dir = tmp()
    const path = writeDevFile(dir, info)
    expect(path).toBe(join(dir, '.cfp', 'dev.json'))
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readDevFile(path)).toEqual(info)
  })

  it('keeps mode 0600 when it replaces a file that was readable by others', () => {
    const dir = tmp()
    mkdirSync(join(dir, '.cfp'))
    writeFileSync(devFilePath(dir), '{}', { mode: 0o644 })
    writeDevFile(dir, info)
    expect(statSync(devFilePath(dir)).mode & 0o777).toBe(0o600)
  })

  it('names the file when it is damaged', () => {
    const dir = tmp()
    mkdirSync(join(dir, '.cfp'))
    writeFileSync(devFilePath(dir), '{"url": 1}')
    expect(() => readDevFile(devFilePath(dir))).toThrow(/dev\.json does not look like a cfp dev file/)
    writeFileSync(devFilePath(dir), 'not json')
    expect(() => readDevFile(devFilePath(dir))).toThrow(/Cannot read .*dev\.json/)
  })

  it('is removed only by the process that wrote it', () => {
    const dir = tmp()
    writeDevFile(dir, { ...info, pid: 999_999 })
    removeDevFile(dir, process.pid)
    expect(readDevFile(devFilePath(dir)).pid).toBe(999_999)
    removeDevFile(dir, 999_999)
    expect(() => readFileSync(devFilePath(dir))).toThrow()
  })

  it('tells live from dead processes', () => {
    expect(isProcessAlive(process.pid)).toBe(true)
    expect(isProcessAlive(2 ** 22 + 12345)).toBe(false)
    expect(isProcessAlive(0)).toBe(false)
  })
})

describe('resolveTarget', () => {
  it('prefers CFP_URL and CFP_TOKEN over dev.json', () => {
    const dir = tmp()
    writeDevFile(dir, info)
    const target = resolveTarget({ dir, env: { CFP_URL: 'http://example.test:9/', CFP_TOKEN: 't' } })
    expect(target).toEqual({ url: 'http://example.test:9', token: 't', source: 'env' })
  })

  it('refuses half of the environment pair', () => {
    expect(() => resolveTarget({ dir: tmp(), env: { CFP_URL: 'http://x' } })).toThrow(/CFP_TOKEN is not set, but CFP_URL is/)
  })

  it('finds dev.json in a parent directory', () => {
    const dir = tmp()
    writeDevFile(dir, info)
    const sub = join(dir, 'steps', 'nested')
    mkdirSync(sub, { recursive: true })
    expect(resolveTarget({ dir: sub, env: {} })).toMatchObject({ url: info.url, token: 'secret' })
  })

  it('explains a missing file and a stale one', () => {
    const dir = tmp()
    expect(() => resolveTarget({ dir, env: {} })).toThrow(/No running cfp dev server found/)
    writeDevFile(dir, { ...info, pid: 4242 })
    expect(() => resolveTarget({ dir, env: {}, isAlive: () => false })).toThrow(/\(pid 4242\) is not running/)
  })
})
