/** Small helpers: free ports, polling, HTTP with timeouts, copies of projects, running the `cfp` CLI. */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { basename, join } from 'node:path'
import { CLI_MAIN, childEnv, WORK_ROOT } from './env.js'

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A TCP port free on 127.0.0.1 right now (cfp dev's --port does not take 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Calls `fn` every `intervalMs` until it returns something other than undefined/false, and returns that. On
 * timeout, throws with `what` and the last value or error seen.
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 20_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await fn()
      if (value !== undefined && value !== false) return value
      last = value
    } catch (err) {
      last = err
    }
    if (Date.now() > until) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`)
    }
    await sleep(intervalMs)
  }
}

export interface HttpResult {
  status: number
  headers: Headers
  text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any
}

export async function http(url: string, init: RequestInit & { timeoutMs?: number; json?: unknown } = {}): Promise<HttpResult> {
  const { timeoutMs = 15_000, json, ...rest } = init
  const headers = new Headers(rest.headers)
  let body = rest.body
  if (json !== undefined) {
    headers.set('content-type', 'application/json')
    body = JSON.stringify(json)
  }
  const res = await fetch(url, { ...rest, headers, body, signal: AbortSignal.timeout(timeoutMs) })
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined
  } catch {
    parsed = undefined
  }
  return { status: res.status, headers: res.headers, text, json: parsed }
}

/** Copies a project (a fixture or an example) to a fresh directory under .work/, without .cfp/ and node_modules/. */
export function copyProject(source: string, label = basename(source)): string {
  mkdirSync(WORK_ROOT, { recursive: true })
  const dest = join(WORK_ROOT, `${label}-${randomBytes(4).toString('hex')}`)
  cpSync(source, dest, {
    recursive: true,
    filter: (src) => !/[\\/](\.cfp|node_modules)([\\/]|$)/.test(src.slice(source.length)),
  })
  return dest
}

export function removeProject(dir: string): void {
  if (process.env.CFP_E2E_KEEP) return
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `cfp <args>` (packages/cli/dist/main.js) to completion, killed after `timeoutMs`. */
export function runCli(
  args: string[],
  { cwd, env = {}, timeoutMs = 60_000 }: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliResult> {
  return runNode([CLI_MAIN, ...args], { cwd, env, timeoutMs })
}

export function runNode(
  args: string[],
  { cwd, env = {}, timeoutMs = 60_000 }: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: childEnv(env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL')
      } catch {
        // gone
      }
      reject(new Error(`node ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
