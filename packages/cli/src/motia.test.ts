import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MOTIA_SUBCOMMANDS, type MotiaCommands, buildMotiaProgram } from './motia.js'
import { captureIo } from './test-support/fake-server.js'

let dir: string
let calls: Array<[string, unknown]>
let exits: number[]

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cfp-motia-'))
  calls = []
  exits = []
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

function motia(args: string[], env: NodeJS.ProcessEnv = {}) {
  const cap = captureIo(dir, env)
  const record =
    (name: string) =>
    async (...a: unknown[]) => {
      calls.push([name, a[0] === undefined ? a : name === 'create' ? [a[0], a[1]] : a[0]])
      return name === 'emit' ? { eventId: 'e', traceId: 't' } : 0
    }
  const commands = Object.fromEntries(['dev', 'start', 'emit', 'generateTypes', 'install'].map((n) => [n, record(n)])) as unknown as Partial<MotiaCommands>
  commands.create = (name: string, opts: unknown) => {
    calls.push(['create', [name, opts]])
    return []
  }
  const program = buildMotiaProgram({ io: cap.io, commands, exit: (c) => exits.push(c) })
  for (const c of [program, ...program.commands]) {
    c.exitOverride()
    c.configureOutput({ writeErr: (s) => cap.err.push(s), writeOut: (s) => cap.out.push(s) })
  }
  return { run: () => program.parseAsync(args, { from: 'user' }), ...cap }
}

describe('the motia command', () => {
  it('maps motia dev and its flags onto cfp dev in the current directory', async () => {
    const m = motia(['dev', '--port', '4111', '-H', '0.0.0.0', '--debug', '--disable-verbose', '--motia-dir', '.m'])
    await m.run()
    expect(calls).toEqual([['dev', { port: 4111, host: '0.0.0.0', dir }]])
    expect(m.io.env.LOG_LEVEL).toBe('debug')
    expect(m.err.join('\n')).toContain('--motia-dir is ignored')
    expect(exits).toEqual([0])
  })

  it('keeps CFP defaults for motia dev without flags (port 3000, loopback)', async () => {
    await motia(['dev']).run()
    await motia(['dev', '-p', '3001', '-H']).run()
    expect(calls).toEqual([
      ['dev', { port: 3000, host: '127.0.0.1', dir }],
      ['dev', { port: 3001, host: '127.0.0.1', dir }],
    ])
  })

  it('refuses a bad port', async () => {
    await expect(motia(['dev', '-p', 'http']).run()).rejects.toThrow(/port/)
    expect(calls).toEqual([])
  })

  it('maps motia emit --topic --message onto cfp emit --topic --data', async () => {
    await motia(['emit', '--topic', 'user.created', '--message', '{"id":1}']).run()
    expect(calls).toEqual([['emit', { topic: 'user.created', data: '{"id":1}' }]])
  })

  it('maps generate-types, install and create', async () => {
    await motia(['generate-types']).run()
    await motia(['install', '-v']).run()
    await motia(['create', 'my-app', '-t', 'nodejs']).run()
    expect(calls).toEqual([
      ['generateTypes', { dir }],
      ['install', { dir, verbose: true }],
      ['create', ['my-app', {}]],
    ])
  })

  it('explains what motia create and motia start need instead of guessing', async () => {
    await expect(motia(['create']).run()).rejects.toThrow(/needs the project name/)
    await expect(motia(['create', 'x', '--plugin']).run()).rejects.toThrow(/--plugin is not supported/)
    await expect(motia(['start']).run()).rejects.toThrow(/needs the runtime to connect to/)
    await motia(['start', '-p', '3000'], { CFP_WORKER_URL: 'ws://127.0.0.1:9/__cfp/worker' }).run()
    await motia(['start', '--url', 'wss://rt.example/__cfp/worker', '--token', 'tok']).run()
    expect(calls).toEqual([
      ['start', { url: 'ws://127.0.0.1:9/__cfp/worker', token: undefined, dir }],
      ['start', { url: 'wss://rt.example/__cfp/worker', token: 'tok', dir }],
    ])
  })

  it('gives a clear error for a subcommand it does not map', async () => {
    for (const name of ['rules', 'docker', 'build', 'deploy']) {
      await expect(motia([name]).run()).rejects.toThrow(`\`motia ${name}\` is not supported by CFP's motia command`)
    }
    expect(calls).toEqual([])
    expect(MOTIA_SUBCOMMANDS).toEqual(['dev', 'start', 'emit', 'generate-types', 'create', 'install'])
  })
})
