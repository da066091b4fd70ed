/**
 * What the browser tests stand on: a fresh PostgreSQL database, a copy of a project, a real `cfp dev` serving
 * the built workbench, and Debian's Chromium driven through playwright-core.
 *
 * Environment:
 * - `CFP_E2E_PG_URL` (default postgres://postgres@127.0.0.1:5432/test): the server the test database is
 *   created on (and dropped from afterwards).
 * - `CFP_E2E_PREVIEW=1`: serve the workbench with `vite preview` (proxying to the runtime) instead of the
 *   runtime itself — only for runtimes that cannot serve it yet.
 * - `CHROMIUM_PATH` (default /usr/bin/chromium).
 * - `CFP_E2E_OPTIONAL`: a regular expression of more endpoint URLs whose failed loads are not console errors
 *   (while working against a runtime that lacks some endpoints; leave unset for a real run).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { type Browser, chromium, type ConsoleMessage, type Page } from 'playwright-core'

export const APP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const REPO_ROOT = resolve(APP_DIR, '..', '..')
export const RESULTS_DIR = join(APP_DIR, 'test-results')
export const DIST_DIR = join(APP_DIR, 'dist')

export const VIEWPORTS = {
  phone: { width: 375, height: 812 },
  desktop: { width: 1440, height: 900 },
} as const

export type ViewportName = keyof typeof VIEWPORTS

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const value = await probe()
      if (value !== undefined && value !== false) return value
    } catch (e) {
      lastError = e
    }
    await sleep(everyMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`)
}

// ---------- database ----------

export interface TestDatabase {
  url: string
  drop(): Promise<void>
}

export async function createDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.CFP_E2E_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const name = `cfp_wb_e2e_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl })
      await c.connect()
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      } finally {
        await c.end()
      }
    },
  }
}

// ---------- project, ports, processes ----------

/** Copies a project into test-results/, so the run writes nothing (layout file, .cfp/) into the source tree. */
export function copyProject(source: string, name: string): string {
  const target = join(RESULTS_DIR, 'projects', `${name}-${randomBytes(3).toString('hex')}`)
  mkdirSync(dirname(target), { recursive: true })
  cpSync(source, target, {
    recursive: true,
    filter: (src) => !/[\\/](node_modules|\.cfp)([\\/]|$)/.test(src.slice(source.length)) && !src.endsWith('motia-workbench.json'),
  })
  return target
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolvePort(port))
    })
  })
}

interface Managed {
  child: ChildProcess
  stop(): Promise<void>
}

function manage(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Managed {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const log = createWriteStream(join(RESULTS_DIR, `${name}.log`), { flags: 'a' })
  log.write(`\n--- ${new Date().toISOString()} ${command} ${args.join(' ')}\n`)
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.pipe(log, { end: false })
  child.stderr?.pipe(log, { end: false })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT')
        const done = await Promise.race([exited.then(() => true), sleep(25_000).then(() => false)])
        if (!done) {
          child.kill('SIGKILL')
          await exited
        }
      }
      log.end()
    },
  }
}

export interface DevServer {
  /** The runtime (API routes of the project, /__cfp/api). */
  runtimeUrl: string
  /** Where the workbench is served (the runtime itself, or vite preview). */
  appUrl: string
  projectDir: string
  api<T>(path: string, init?: RequestInit): Promise<T>
  stop(): Promise<void>
}

export interface DevServerOptions {
  project: string
  name: string
  databaseUrl: string
  /** Step names that must be registered before the server counts as ready. */
  expectSteps: string[]
  /** Extra environment of `cfp dev` and so of its runtime (e.g. `CFP_SLO_POLICY`). */
  env?: NodeJS.ProcessEnv
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const projectDir = copyProject(opts.project, opts.name)
  const port = await freePort()
  const runtimeUrl = `http://127.0.0.1:${port}`
  const cfp = join(REPO_ROOT, 'node_modules', '.bin', 'cfp')
  const dev = manage(
    `cfp-dev-${opts.name}`,
    cfp,
    ['dev', '--port', String(port), '--dir', projectDir, '--no-types'],
    { ...process.env, ...opts.env, DATABASE_URL: opts.databaseUrl, CFP_WORKBENCH_DIR: DIST_DIR, NO_COLOR: '1' },
    REPO_ROOT,
  )
  const stops: Array<() => Promise<void>> = [() => dev.stop()]
  const stopAll = async () => {
    for (const s of stops.reverse()) await s()
  }
  const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const res = await fetch(`${runtimeUrl}${path}`, init)
    const text = await res.text()
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path} → ${res.status}: ${text}`)
    return (text ? JSON.parse(text) : undefined) as T
  }
  try {
    await waitFor(
      'cfp dev to register the project steps',
      async () => {
        if (dev.child.exitCode !== null) throw new Error(`cfp dev exited with ${dev.child.exitCode}; see test-results/cfp-dev-${opts.name}.log`)
        const { steps } = await api<{ steps: Array<{ name: string }> }>('/__cfp/api/steps')
        const names = new Set(steps.map((s) => s.name))
        return opts.expectSteps.every((n) => names.has(n))
      },
      90_000,
      500,
    )
    let appUrl = `${runtimeUrl}/__cfp/`
    if (process.env.CFP_E2E_PREVIEW === '1') {
      const previewPort = await freePort()
      const preview = manage(
        `vite-preview-${opts.name}`,
        join(REPO_ROOT, 'node_modules', '.bin', 'vite'),
        ['preview', '--port', String(previewPort), '--strictPort', '--host', '127.0.0.1'],
        { ...process.env, CFP_URL: runtimeUrl },
        APP_DIR,
      )
      stops.push(() => preview.stop())
      appUrl = `http://127.0.0.1:${previewPort}/__cfp/`
    }
    await waitFor(
      `the workbench at ${appUrl}`,
      async () => {
        const res = await fetch(appUrl)
        return res.ok && (await res.text()).includes('id="root"')
      },
      30_000,
      500,
    )
    return { runtimeUrl, appUrl, projectDir, api, stop: stopAll }
  } catch (e) {
    await stopAll()
    throw e
  }
}

// ---------- browser ----------

export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
  if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing: run node e2e/ensure-chromium.mjs`)
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}

export interface TestPage {
  page: Page
  /** Console errors and uncaught exceptions seen so far. */
  errors: string[]
  close(): Promise<void>
}

/**
 * A page in a fresh context. Console errors are collected; a failed load of an optional endpoint (one the
 * page handles by explaining it is unavailable) is not an error of the page.
 */
export async function openPage(browser: Browser, viewport: ViewportName, opts: { colorScheme?: 'light' | 'dark'; optional?: RegExp } = {}): Promise<TestPage> {
  const context = await browser.newContext({ viewport: VIEWPORTS[viewport], colorScheme: opts.colorScheme ?? 'light' })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() !== 'error') return
    const where = msg.location().url
    const extra = process.env.CFP_E2E_OPTIONAL ? new RegExp(process.env.CFP_E2E_OPTIONAL) : undefined
    const optional = opts.optional?.test(where) || extra?.test(where)
    if (optional && /Failed to load resource/.test(msg.text())) return
    errors.push(`${msg.text()} (${where})`)
  })
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`))
  return { page, errors, close: () => context.close() }
}

/** Whether the page scrolls sideways: the document is wider than the viewport. */
export async function horizontalOverflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number; culprits: string[] }> {
  return page.evaluate(() => {
    const innerWidth = window.innerWidth
    const culprits: string[] = []
    for (const el of Array.from(document.querySelectorAll<HTMLElement>('body *'))) {
      const r = el.getBoundingClientRect()
      if (r.right > innerWidth + 1 && culprits.length < 8) {
        culprits.push(`${el.tagName.toLowerCase()}.${String(el.className).slice(0, 60)} right=${Math.round(r.right)}`)
      }
    }
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth, culprits }
  })
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = join(RESULTS_DIR, 'screenshots')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

export function cleanProjects(): void {
  rmSync(join(RESULTS_DIR, 'projects'), { recursive: true, force: true })
}
