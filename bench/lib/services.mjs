// The processes a benchmark runs against: cfp-runtime and a worker, each started on loopback and awaited.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { BenchError, freePort, say, sleep, startChild, stopChild, withTimeout } from './proc.mjs'

/**
 * Starts cfp-runtime (`bin`) in dev mode on a free port; resolves once it printed its ready line. `name` names its
 * log file; `env` adds variables (options).
 */
export async function startRuntime(bin, dbUrl, tmp, logDir, { name = 'runtime', env = {} } = {}) {
  const workerToken = `wt-${randomBytes(18).toString('hex')}`
  const adminToken = `at-${randomBytes(18).toString('hex')}`
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    let ready
    const readyP = new Promise((r) => (ready = r))
    const h = startChild(name, bin, [], {
      logDir,
      env: {
        ...process.env,
        ...env,
        DATABASE_URL: dbUrl,
        CFP_LISTEN: `127.0.0.1:${port}`,
        CFP_WORKER_TOKEN: workerToken,
        CFP_ADMIN_TOKEN: adminToken,
        CFP_DEV: 'true',
        CFP_DATA_DIR: join(tmp, 'data'),
        CFP_LOG: process.env.CFP_LOG ?? 'info,sqlx=warn',
      },
      onLine: (line, stream) => {
        if (stream !== 'stdout') return
        try {
          const v = JSON.parse(line)
          if (v && v.ready === true) ready(v)
        } catch {}
      },
    })
    const r = await withTimeout(
      Promise.race([readyP, h.exited.then((e) => ({ exited: e }))]),
      180_000,
      'the runtime did not print its ready line within 180 s',
    ).catch(async (err) => {
      await stopChild(h)
      throw new BenchError(`${err.message}\n--- runtime log ---\n${h.tail()}`)
    })
    if (!r.exited) return { h, port, workerToken, adminToken, addr: r.addr }
    await h.closeLog()
    const tail = h.tail()
    if (attempt < 3 && /cannot listen|in use/i.test(tail)) {
      say(`port ${port} was taken; retrying`)
      continue
    }
    throw new BenchError(`the runtime exited before it was ready (${JSON.stringify(r.exited)})\n--- runtime log ---\n${tail}`)
  }
}

/** Starts a worker for `projectDir`; resolves once it registered exactly `expected` steps without errors. */
export async function startWorker(workerMain, projectDir, port, token, logDir, expected, name = 'worker') {
  let done
  const doneP = new Promise((r) => (done = r))
  const h = startChild(
    name,
    process.execPath,
    [workerMain, '--dir', projectDir, '--url', `ws://127.0.0.1:${port}/__cfp/worker`, '--token', token, '--name', 'bench-worker'],
    {
      logDir,
      env: { ...process.env, LOG_LEVEL: 'warn', NODE_ENV: 'production' },
      onLine: (line) => {
        const m = /registered (\d+) steps \((\d+) errors\)/.exec(line)
        if (m) done({ steps: Number(m[1]), errors: Number(m[2]) })
      },
    },
  )
  const r = await withTimeout(
    Promise.race([doneP, h.exited.then((e) => ({ exited: e }))]),
    180_000,
    'the worker did not register its steps within 180 s',
  ).catch(async (err) => {
    await stopChild(h)
    throw new BenchError(`${err.message}\n--- worker log ---\n${h.tail()}`)
  })
  if (r.exited) throw new BenchError(`the worker exited before registering (${JSON.stringify(r.exited)})\n--- worker log ---\n${h.tail()}`)
  if (r.errors > 0 || r.steps !== expected) {
    await stopChild(h)
    throw new BenchError(`the worker registered ${r.steps} steps with ${r.errors} errors (expected ${expected}, 0 errors)\n--- worker log ---\n${h.tail()}`)
  }
  return h
}

/** Retries a request until it gives the expected status (the runtime may still be settling). */
export async function expectStatus(url, init, status, ms = 30_000) {
  const until = Date.now() + ms
  let last
  for (;;) {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) })
      const text = await res.text()
      if (res.status === status) return { res, text }
      last = `${res.status} ${text.slice(0, 300)}`
    } catch (err) {
      last = err.message
    }
    if (Date.now() > until) throw new BenchError(`${init?.method ?? 'GET'} ${url}: expected ${status}, got ${last}`)
    await sleep(250)
  }
}
