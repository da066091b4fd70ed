import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { writeFakeBins } from '../test-support/fake-processes.js'
import { captureIo } from '../test-support/fake-server.js'
import { runStart, validateWorkerUrl } from './start.js'

describe('cfp start', () => {
  it('runs the worker without --watch, hands it the token through the environment, and returns its exit code', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cfp-start-'))
    const bins = writeFakeBins(join(root, 'bin'))
    const env = { ...process.env, CFP_WORKER_MAIN: bins.worker, FAKE_LOG: bins.log, FAKE_WORKER_EXIT: '3' }
    const { io } = captureIo(root, env)
    const code = await runStart({ url: 'wss://runtime.example.com/__cfp/worker', token: 'wt_1', dir: '.' }, io)
    expect(code).toBe(3)
    expect(bins.lines()).toEqual([
      `worker:start ${JSON.stringify(['--dir', root, '--url', 'wss://runtime.example.com/__cfp/worker'])}`,
      'worker:env-token wt_1',
    ])
  })

  it('needs a token and a ws:// or wss:// URL', () => {
    const { io } = captureIo(tmpdir(), {})
    expect(() => runStart({ url: 'ws://x/__cfp/worker' }, io)).toThrow(/No worker token/)
    expect(() => validateWorkerUrl('https://x/__cfp/worker')).toThrow(/must be a ws:\/\/ or wss:\/\/ URL/)
    expect(() => validateWorkerUrl('nope')).toThrow(/is not a URL/)
  })
})
