import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { findFreePort } from '../dev/ports.js'
import { captureIo } from '../test-support/fake-server.js'
import { type FakeBins, writeFakeBins } from '../test-support/fake-processes.js'
import { devFilePath, readDevFile } from '../util/dev-file.js'
import { CliError } from '../util/errors.js'
import { DevSession, type DevOptions, httpUrl, parseReadyLine, resolveWorkbenchDir } from './dev.js'
import { runEmit } from './emit.js'

let bins: FakeBins
let project: string
let output: string[]
let session: DevSession | undefined
let root: string

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'cfp-dev-'))
  project = join(root, 'project')
  mkdirSync(join(project, 'steps'), { recursive: true })
  bins = writeFakeBins(join(root, 'bin'))
  output = []
  vi.stubEnv('CFP_RUNTIME_BIN', bins.runtime)
  vi.stubEnv('CFP_WORKER_MAIN', bins.worker)
  vi.stubEnv('DATABASE_URL', 'postgres://user:secret@127.0.0.1:5/db')
  vi.stubEnv('FAKE_LOG', bins.log)
})

afterEach(async () => {
  await session?.shutdown('test cleanup', 0)
  session = undefined
  vi.unstubAllEnvs()
  rmSync(root, { recursive: true, force: true })
})

async function options(extra: Partial<DevOptions> = {}): Promise<DevOptions> {
  return {
    port: await findFreePort(),
    host: '127.0.0.1',
    dir: project,
    generateTypes: false,
    handleSignals: false,
    restartMinMs: 100,
    readyTimeoutMs: 10_000,
    sink: (name, _stream, line) => output.push(`[${name}] ${line}`),
    ...extra,
  }
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out; output:\n${output.join('\n')}\nevents:\n${bins.lines().join('\n')}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('cfp dev', () => {
  it('starts runtime then worker with the right settings, writes dev.json, and stops worker before runtime', async () => {
    const opts = await options()
    session = new DevSession(opts)
    const info = await session.start()
    expect(info.url).toBe(`http://127.0.0.1:${opts.port}`)

    const runtimeStart = JSON.parse(bins.lines()[0]?.replace('runtime:start ', '') ?? '{}') as Record<string, string>
    expect(runtimeStart).toEqual({
      DATABASE_URL: 'postgres://user:secret@127.0.0.1:5/db',
      CFP_LISTEN: `127.0.0.1:${opts.port}`,
      CFP_DEV: 'true',
      CFP_DATA_DIR: join(project, '.cfp', 'data'),
      CFP_WORKER_TOKEN: info.workerToken,
      CFP_ADMIN_TOKEN: info.adminToken,
    })
    expect(info.workerToken).not.toBe(info.adminToken)
    expect(info.adminToken.length).toBeGreaterThanOrEqual(40)

    await until(() => bins.lines().some((l) => l.startsWith('worker:start')))
    const workerArgs = JSON.parse(
      bins
        .lines()
        .find((l) => l.startsWith('worker:start'))
        ?.slice(13) ?? '[]',
    ) as string[]
    // the token goes in the environment, never on the command line (ps; a value starting with '-')
    expect(workerArgs).toEqual(['--dir', project, '--url', `ws://127.0.0.1:${opts.port}/__cfp/worker`, '--watch'])
    expect(bins.lines()).toContain(`worker:env-token ${info.workerToken}`)

    const dev = readDevFile(devFilePath(project))
    expect(dev).toMatchObject({ url: info.url, adminToken: info.adminToken, pid: process.pid })
    expect(statSync(devFilePath(project)).mode & 0o777).toBe(0o600)

    // other commands find the server through dev.json
    const { io, out } = captureIo(join(project, 'steps'), {})
    await runEmit({ topic: 'hello.received', data: '{"name":"Ada"}' }, io)
    expect(out).toEqual(['{"eventId":"ev_1","traceId":"tr_1"}'])
    expect(bins.lines()).toContain(`http POST /__cfp/api/emit Bearer ${info.adminToken}`)

    // output is forwarded with prefixes, the ready line is not
    expect(output).toContain('[runtime] INFO runtime starting')
    expect(output).toContain('[runtime] a stdout line that is not the ready line')
    expect(output.some((l) => l.includes('"ready":true'))).toBe(false)
    expect(output.some((l) => l.includes('requests from loopback') && l.includes('local developer'))).toBe(true)
    expect(output.some((l) => l.includes('postgres://user:***@127.0.0.1:5/db'))).toBe(true)
    expect(output.some((l) => l.includes('secret'))).toBe(false)

    expect(await session.shutdown('test', 0)).toBe(0)
    expect(await session.done).toBe(0)
    const events = bins.lines().filter((l) => l.endsWith('sigterm'))
    expect(events).toEqual(['worker:sigterm', 'runtime:sigterm'])
    expect(existsSync(devFilePath(project))).toBe(false)
  })

  it('restarts a crashed worker with backoff instead of exiting', async () => {
    vi.stubEnv('FAKE_WORKER_CRASHES', '2')
    session = new DevSession(await options())
    await session.start()
    await until(() => bins.lines().filter((l) => l.startsWith('worker:start')).length === 3)
    expect(output.filter((l) => l.includes('the worker exited (exit code 2); restarting it in'))).toHaveLength(2)
    expect(output.some((l) => l.includes('restarting it in 0.1 s'))).toBe(true)
    expect(output.some((l) => l.includes('restarting it in 0.2 s'))).toBe(true)
    expect(await session.shutdown('test', 0)).toBe(0)
  })

  it('prints the banner only once the worker registered, or says it gave up waiting', async () => {
    session = new DevSession(await options())
    await session.start()
    const registered = output.findIndex((l) => l.includes('cfp-worker: registered'))
    const banner = output.findIndex((l) => l.includes('CFP dev server ready'))
    expect(registered).toBeGreaterThanOrEqual(0)
    expect(banner).toBeGreaterThan(registered)
    await session.shutdown('test', 0)

    vi.stubEnv('FAKE_WORKER_SILENT', '1')
    output.length = 0
    session = new DevSession(await options({ registerTimeoutMs: 300 }))
    await session.start()
    expect(output.some((l) => l.includes('has not registered its steps after 0.3 s'))).toBe(true)
    expect(output.some((l) => l.includes('CFP dev server ready'))).toBe(true)
  })

  it('stops everything with exit code 1 when the runtime dies', async () => {
    vi.stubEnv('FAKE_RUNTIME_MODE', 'die-after-ready')
    session = new DevSession(await options())
    await session.start()
    expect(await session.done).toBe(1)
    expect(output.some((l) => l.includes('the runtime exited unexpectedly (exit code 7); stopping everything'))).toBe(true)
    expect(existsSync(devFilePath(project))).toBe(false)
  })

  it('explains a runtime that exits while starting, with its last output', async () => {
    vi.stubEnv('FAKE_RUNTIME_MODE', 'exit-early')
    session = new DevSession(await options())
    const error = (await session.start().catch((e: unknown) => e)) as CliError
    expect(error).toBeInstanceOf(CliError)
    expect(error.message).toBe('The runtime stopped while starting (exit code 3)')
    expect(error.explanation).toContain('ERROR cannot connect to the database')
    expect(bins.lines().some((l) => l.startsWith('worker:start'))).toBe(false)
  })

  it('gives up on a runtime that never reports ready, and stops it', async () => {
    vi.stubEnv('FAKE_RUNTIME_MODE', 'never-ready')
    session = new DevSession(await options({ readyTimeoutMs: 800 }))
    const error = (await session.start().catch((e: unknown) => e)) as CliError
    expect(error.message).toBe('The runtime did not report ready within 0.8 s')
    expect(error.explanation).toContain('{"ready":true,"addr":"…"}')
    expect(bins.lines()).toContain('runtime:sigterm')
  })

  it('refuses a directory without steps/ or src/, a busy port, and a second dev server', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'cfp-bare-'))
    await expect(new DevSession(await options({ dir: bare })).start()).rejects.toThrow(/has no steps\/ or src\/ directory/)

    const blocker = createServer()
    const port = await findFreePort()
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r))
    try {
      await expect(new DevSession(await options({ port })).start()).rejects.toThrow(`Port ${port} on 127.0.0.1 is already in use`)
    } finally {
      blocker.close()
    }

    session = new DevSession(await options())
    await session.start()
    const second = await new DevSession(await options()).start().catch((e: unknown) => e)
    expect(second).toBeInstanceOf(CliError)
    expect((second as CliError).message).toBe(`cfp dev is already running for this project (pid ${process.pid}, ${session.info?.url})`)
  })
})

describe('httpUrl', () => {
  it('reaches wildcard listen addresses over loopback', () => {
    expect(httpUrl('127.0.0.1:3000')).toBe('http://127.0.0.1:3000')
    expect(httpUrl('0.0.0.0:3000')).toBe('http://127.0.0.1:3000')
    expect(httpUrl('[::]:3000')).toBe('http://[::1]:3000')
  })
})

describe('cfp dev in the terminal', () => {
  it('adds .cfp/ to .gitignore once, saying so once', async () => {
    writeFileSync(join(project, '.gitignore'), 'node_modules\n')
    session = new DevSession(await options())
    await session.start()
    await session.shutdown('test', 0)
    session = new DevSession(await options())
    await session.start()
    expect(readFileSync(join(project, '.gitignore'), 'utf8')).toBe('node_modules\n.cfp/\n')
    expect(output.filter((l) => l.includes('.gitignore'))).toEqual(["[cfp] added .cfp/ to .gitignore (cfp dev's local data and admin token stay out of git)"])
  })

  it("prints the worker's failed attempts and the runtime's dead letters as one readable line each", async () => {
    vi.stubEnv(
      'FAKE_WORKER_SAY',
      'cfp-worker: step failed {"step":"Charge","trigger":"event","attempt":3,"maxAttempts":3,"traceId":"t-9","message":"card\\ndeclined"}',
    )
    vi.stubEnv(
      'FAKE_RUNTIME_SAY',
      '2026-12-07T20:41:02.123456Z  INFO cfp_engine::invoke: moved to the dead-letter queue tenant=default project=default step="Charge" trace_id=t-9 attempts=3 retriable=true',
    )
    session = new DevSession(await options({ color: false }))
    await session.start()
    await until(() => output.some((l) => l.includes('dead-letter')) && output.some((l) => l.includes('failed (attempt')))
    expect(output).toContain('[worker] ✖ Charge failed (attempt 3 of 3): card declined · trace t-9')
    expect(output).toContain('[runtime] ✖ Charge moved to the dead-letter queue after 3 attempts · trace t-9 — inspect: cfp dlq list --step Charge')
    expect(output.some((l) => l.includes('step failed {'))).toBe(false)
  })
})

describe('parseReadyLine', () => {
  it('recognises only the ready line', () => {
    expect(parseReadyLine('{"ready":true,"addr":"127.0.0.1:3000"}')).toEqual({ addr: '127.0.0.1:3000' })
    expect(parseReadyLine('  {"ready": true, "addr": "[::1]:4000", "version": "1"}  ')).toEqual({ addr: '[::1]:4000' })
    expect(parseReadyLine('{"ready":false,"addr":"x"}')).toBeUndefined()
    expect(parseReadyLine('{not json')).toBeUndefined()
    expect(parseReadyLine('listening on 3000')).toBeUndefined()
  })
})

describe('resolveWorkbenchDir', () => {
  it('prefers CFP_WORKBENCH_DIR, falls back to the repository build, and needs an index.html', () => {
    const repo = mkdtempSync(join(tmpdir(), 'cfp-wb-'))
    expect(resolveWorkbenchDir({}, repo)).toBeUndefined()
    mkdirSync(join(repo, 'apps', 'workbench', 'dist'), { recursive: true })
    expect(resolveWorkbenchDir({}, repo)).toBeUndefined()
    writeFileSync(join(repo, 'apps', 'workbench', 'dist', 'index.html'), '<html></html>')
    expect(resolveWorkbenchDir({}, repo)).toBe(join(repo, 'apps', 'workbench', 'dist'))
    const custom = mkdtempSync(join(tmpdir(), 'cfp-wb-custom-'))
    writeFileSync(join(custom, 'index.html'), '<html></html>')
    expect(resolveWorkbenchDir({ CFP_WORKBENCH_DIR: custom }, repo)).toBe(custom)
  })
})
