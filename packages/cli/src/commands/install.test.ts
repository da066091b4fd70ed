import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { captureIo } from '../test-support/fake-server.js'
import { missingDependencies, pythonStepFiles, runInstall } from './install.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cfp-install-'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ dependencies: { zod: '^4', '@cfp/cli': '*' }, devDependencies: { typescript: '^5' } }))
  mkdirSync(join(dir, 'node_modules', 'zod'), { recursive: true })
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('motia install', () => {
  it('lists the dependencies that do not resolve', () => {
    expect(missingDependencies(dir)).toEqual(['@cfp/cli', 'typescript'])
  })

  it('runs npm install when some are missing, and checks again', async () => {
    const { io, out } = captureIo(dir, {})
    const ran: string[] = []
    const code = await runInstall(
      {
        dir,
        npmInstall: async (d) => {
          ran.push(d)
          for (const name of ['@cfp/cli', 'typescript']) mkdirSync(join(d, 'node_modules', name), { recursive: true })
          return 0
        },
      },
      io,
    )
    expect(code).toBe(0)
    expect(ran).toEqual([dir])
    expect(out.join('\n')).toContain('@cfp/cli, typescript not installed; running npm install')
  })

  it('never starts npm install from inside npm (postinstall), which would recurse', async () => {
    const { io, err } = captureIo(dir, { npm_lifecycle_event: 'postinstall' })
    const code = await runInstall({ dir, npmInstall: async () => Promise.reject(new Error('must not run')) }, io)
    expect(code).toBe(0)
    expect(err.join('\n')).toContain('not installed yet: @cfp/cli, typescript (npm postinstall is running')
  })

  it('fails when npm install fails', async () => {
    const { io } = captureIo(dir, {})
    await expect(runInstall({ dir, npmInstall: async () => 1 }, io)).rejects.toThrow(/npm install failed/)
  })

  it('finds Python steps and prepares their environment', async () => {
    mkdirSync(join(dir, 'steps', 'py'), { recursive: true })
    mkdirSync(join(dir, 'steps', '.venv'), { recursive: true })
    writeFileSync(join(dir, 'steps', 'py', 'score_step.py'), 'config = {}')
    writeFileSync(join(dir, 'steps', '.venv', 'x_step.py'), '')
    expect(pythonStepFiles(dir)).toEqual([join(dir, 'steps', 'py', 'score_step.py')])
    mkdirSync(join(dir, 'node_modules', '@cfp', 'cli'), { recursive: true })
    mkdirSync(join(dir, 'node_modules', 'typescript'), { recursive: true })
    const { io, err } = captureIo(dir, {})
    const prepared: string[] = []
    const pythonEnv = async (d: string, say: (line: string) => void) => {
      prepared.push(d)
      say('venv ready')
    }
    expect(await runInstall({ dir, pythonEnv }, io)).toBe(0)
    expect(prepared).toEqual([dir])
    expect(err.join('\n')).toContain('1 Python step file(s) found')
    expect(err.join('\n')).toContain('venv ready')
  })
})
