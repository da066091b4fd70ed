/**
 * Child processes and cleanup: every child is registered and ended (SIGTERM, then SIGKILL after a grace
 * period) by `shutdown()`, which the runner calls on every exit path; `process.on('exit')` SIGKILLs anything
 * still alive as a last resort. `startControlPlane()` runs the real binary on 127.0.0.1 and reads its address
 * and one-time setup link from stdout.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { root } from './venv.mjs'

const children = new Set()
const cleanups = []

process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

/** Spawns a child that `shutdown()` will end; stdout/stderr are piped. */
export function track(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  children.add(child)
  child.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
  child.exited.then(() => children.delete(child))
  return child
}

/** Registers a cleanup step (run in reverse order after the children are gone). */
export function onShutdown(fn) {
  cleanups.push(fn)
}

export async function stop(child, graceMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await child.exited
  clearTimeout(timer)
}

let shuttingDown
export const isShuttingDown = () => shuttingDown !== undefined

export function shutdown() {
  shuttingDown ??= (async () => {
    await Promise.all([...children].map((c) => stop(c)))
    for (const fn of cleanups.reverse()) {
      try {
        await fn()
      } catch (err) {
        console.error(`api-fuzz: cleanup failed: ${err.message}`)
      }
    }
  })()
  return shuttingDown
}

const bin = path.resolve(root, '../../packages/control-plane/dist/main.js')

/**
 * Starts `cfp-control-plane` on a fresh schema. Resolves with its URL, setup token, service token and the
 * lines it logged (errors only), once it printed the setup link; rejects if it exits or stays silent for 60 s.
 */
export function startControlPlane({ databaseUrl, schema, allowLoopbackIdp = true }) {
  if (!existsSync(bin)) {
    return Promise.reject(new Error(`${bin} is missing: build first (scripts/setup.sh, or npm run build -w @cfp/control-plane)`))
  }
  const serviceToken = randomBytes(24).toString('hex')
  const args = [
    bin,
    '--host', '127.0.0.1',
    '--port', '0',
    '--database-url', databaseUrl,
    '--schema', schema,
    '--master-key', randomBytes(32).toString('base64'),
    '--service-token', serviceToken,
    '--regions', 'eu,us',
    '--log-level', 'error',
  ]
  if (allowLoopbackIdp) args.push('--allow-loopback-idp')
  const child = track(process.execPath, args, { env: { ...process.env, NODE_ENV: 'production' } })
  const logLines = []
  return new Promise((resolve, reject) => {
    let out = ''
    let url
    const timer = setTimeout(() => reject(new Error(`control plane did not start within 60 s:\n${out}`)), 60_000)
    const onData = (chunk) => {
      out += chunk
      let nl
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        if (line.startsWith('{')) logLines.push(line)
        url ??= /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1]
        const token = /\/v1\/setup\?token=([A-Za-z0-9_-]+)/.exec(line)?.[1]
        if (url && token) {
          clearTimeout(timer)
          resolve({ child, url, setupToken: token, serviceToken, logLines })
        }
      }
    }
    child.stdout.setEncoding('utf8').on('data', onData)
    child.stderr.setEncoding('utf8').on('data', (d) => process.stderr.write(d))
    child.exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`control plane exited (${code ?? signal}) before it was ready:\n${out}`))
    })
  })
}
