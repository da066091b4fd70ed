import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { FakeRuntime, tempProject } from './test-support/fake-runtime.js'

// The built CLI (`npm test` builds first: see the pretest script).
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url))

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = { stdout: '', stderr: '' }
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()))
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return { child, out, exited }
}

describe.skipIf(!existsSync(MAIN))('cfp-worker CLI', () => {
  it('registers, prints the registered line, and drains and exits 0 on SIGTERM', async () => {
    const runtime = await FakeRuntime.start()
    const project = tempProject('worker-project')
    try {
      const p = run(['--dir', project.dir, '--name', 'cli'], { CFP_RUNTIME_URL: runtime.url, CFP_WORKER_TOKEN: runtime.token })
      await expect.poll(() => p.out.stdout, { timeout: 10_000 }).toContain('cfp-worker: registered 4 steps (0 errors)')
      const hello = await runtime.waitFor((f) => f.type === 'hello')
      expect(hello).toMatchObject({ worker: { name: 'cli' } })
      p.child.kill('SIGTERM')
      expect(await p.exited).toBe(0)
      expect(runtime.frames.some((f) => f.type === 'drain')).toBe(true)
    } finally {
      await runtime.close()
      project.cleanup()
    }
  })

  it('explains a missing option and exits 2', async () => {
    const p = run(['--dir', '.'], { CFP_RUNTIME_URL: '', CFP_WORKER_TOKEN: '' })
    expect(await p.exited).toBe(2)
    expect(p.out.stderr).toContain('no runtime URL: pass --url or set CFP_RUNTIME_URL')
  })
})
