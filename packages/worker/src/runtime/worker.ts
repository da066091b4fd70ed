/**
 * `startWorker(options)`: loads the project, connects to the runtime, registers the steps and runs invocations
 * until stopped. Session per docs/protocol.md: hello -> welcome -> register -> registered, then invoke/result,
 * log, call/reply, access/access_result (a stream's canAccess), ping/pong and drain. Reconnects (re-sending hello
 * and register) when the connection drops; re-registers after every hot reload; `stop()` sends drain and lets
 * in-flight invocations finish (10 s max).
 */
import type { LogContext, LogFormat } from './log-format.js'
import { readFile, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { relative, resolve } from 'node:path'
import { type LoadError, type LoadedStep, type LoadResult, loadProject } from '../loader/load.js'
import {
  type AccessFrame,
  FrameError,
  type SourceFrame,
  type HelloFrame,
  parseFrame,
  PROTOCOL_VERSION,
  type RegisterFrame,
  type RegistrationError,
  type RuntimeFrame,
} from '../frames.js'
import { bundleUi, type UiManifest } from '../ui/bundle.js'
import { watchProject, type ProjectWatcher } from '../watch.js'
import { Connection } from './connection.js'
import { failureLine, runInvocation } from './invoke.js'
import { LogBatcher } from './logs.js'
import { RpcClient } from './rpc.js'

/** Largest step file the code view gets. */
const MAX_SOURCE_BYTES = 1024 * 1024

export interface WorkerOptions {
  /** The project directory (holds steps/ and/or src/). */
  dir: string
  /** The runtime's worker endpoint, e.g. ws://127.0.0.1:3111/__cfp/worker */
  url: string
  token: string
  /** Reload and re-register when project files change. */
  watch?: boolean
  /** Name reported in hello. */
  name?: string
  /** Max invocations in flight announced in hello (runtime default 256). */
  capacity?: number
  /** Print step logs to the console (default true). */
  printLogs?: boolean
  /** How printed step logs look (default pretty); see log-format.ts. */
  logFormat?: LogFormat
  /** Filled with the tenant and project from the runtime's `welcome` (JSON log lines carry them). */
  logContext?: LogContext
  /** Status lines (connection, reload, load errors); default `console.error`. */
  print?: (line: string) => void
  /** Called after each `registered` frame. */
  onRegistered?: (info: RegisteredInfo) => void
  /** Called after each (re)load of the project. */
  onLoad?: (result: LoadResult) => void
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number }
  /** How long `stop()` waits for in-flight invocations (default 10 000 ms). */
  drainTimeoutMs?: number
}

export interface RegisteredInfo {
  /** Accepted step names. */
  steps: string[]
  /** Steps the runtime rejected. */
  errors: RegistrationError[]
  /** Files that failed to load locally (never sent in register). */
  loadErrors: LoadError[]
}

export type WorkerExit = { reason: 'stopped' } | { reason: 'fatal'; message: string }

export interface WorkerHandle {
  /** Reloads the project and re-registers (what the watcher does on a change). */
  reload(): Promise<void>
  /** Sends drain, waits for in-flight invocations (up to drainTimeoutMs), closes. */
  stop(): Promise<void>
  /** Settles when the worker has stopped for good: by `stop()`, or a fatal session error (bad token...). */
  readonly exited: Promise<WorkerExit>
  /** Invocations running now. */
  inFlight(): number
}

const require = createRequire(import.meta.url)
const VERSION = (require('../../package.json') as { version: string }).version

export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const dir = resolve(options.dir)
  const print = options.print ?? ((line: string) => console.error(line))
  let steps = new Map<string, LoadedStep>()
  let lastLoad: LoadResult = { steps: [], streams: [], errors: [] }
  /** Plugin tabs and node components, sent with `register` (docs/workbench.md). */
  let lastUi: UiManifest = { tabs: [], nodes: [], bundles: {} }
  let welcomed = false
  let draining = false
  let stopping: Promise<void> | undefined
  let connGen = 0
  const inFlight = new Map<string, { gen: number; cancelled?: string }>()
  let idleWaiters: (() => void)[] = []
  let watcher: ProjectWatcher | undefined
  let exit!: (e: WorkerExit) => void
  const exited = new Promise<WorkerExit>((r) => (exit = r))

  const conn: Connection = new Connection({ url: options.url, ...options.reconnect }, { onOpen, onMessage, onClose: handleClose, print })
  const logContext = options.logContext ?? {}
  const logs = new LogBatcher({
    send: (f) => conn.send(f),
    print: options.printLogs ?? true,
    format: options.logFormat ?? 'pretty',
    context: logContext,
  })
  const rpc = new RpcClient((f) => conn.send(f))
  const streamNames = () => lastLoad.streams.map((s) => s.manifest.name)

  async function load(): Promise<void> {
    const result = await loadProject(dir)
    try {
      const { ui, errors } = await bundleUi(dir, result.steps, result.plugins ?? [])
      lastUi = ui
      result.errors.push(...errors.map((e) => ({ file: e.file, code: 'load_failed' as const, message: e.message })))
    } catch (err) {
      lastUi = { tabs: [], nodes: [], bundles: {} }
      print(`cfp-worker: the workbench components could not be bundled: ${(err as Error).message}`)
    }
    lastLoad = result
    steps = new Map(result.steps.map((s) => [s.manifest.name, s]))
    for (const e of result.errors) print(`cfp-worker: ${e.message}`)
    options.onLoad?.(result)
  }

  function sendRegister(): void {
    const register: RegisterFrame = { type: 'register', steps: lastLoad.steps.map((s) => s.manifest), streams: lastLoad.streams.map((s) => s.manifest) }
    if (lastUi.tabs.length > 0 || lastUi.nodes.length > 0) register.ui = lastUi
    conn.send(register)
    if (lastLoad.errors.length === 0) return
    const ts = Date.now()
    conn.send({
      type: 'log',
      entries: lastLoad.errors.map((e) => ({
        ts,
        level: 'error' as const,
        msg: e.message,
        data: { file: e.file, code: e.code, ...(e.key ? { key: e.key } : {}) },
      })),
    })
  }

  function onOpen(): void {
    connGen += 1
    const hello: HelloFrame = {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      token: options.token,
      worker: { name: options.name ?? `worker-${process.pid}`, pid: process.pid, sdk: `@cfp/worker@${VERSION}`, runtime: `node ${process.version}` },
    }
    if (options.capacity !== undefined) hello.capacity = options.capacity
    conn.send(hello)
  }

  function onMessage(text: string): void {
    let frame: RuntimeFrame
    try {
      frame = parseFrame(text)
    } catch (err) {
      if (!(err instanceof FrameError)) throw err
      print(`cfp-worker: ignoring a bad frame from the runtime: ${err.message}`)
      rejectBadInvoke(text, err.message)
      return
    }
    if (!welcomed && frame.type !== 'welcome' && frame.type !== 'error') {
      print(`cfp-worker: ignoring a '${frame.type}' frame received before 'welcome'`)
      return
    }
    handleFrame(frame)
  }

  function handleFrame(frame: RuntimeFrame): void {
    switch (frame.type) {
      case 'welcome':
        logContext.tenant = frame.tenant
        logContext.project = frame.project
        welcomed = true
        draining = false
        conn.markHealthy()
        conn.startHeartbeat(frame.heartbeatMs)
        sendRegister()
        return
      case 'registered':
        options.onRegistered?.({ steps: frame.steps, errors: frame.errors, loadErrors: lastLoad.errors })
        return
      case 'invoke':
        return startInvocation(frame)
      case 'reply':
        return rpc.handleReply(frame)
      case 'access':
        return void checkAccess(frame)
      case 'source':
        return void sendSource(frame)
      case 'cancel': {
        const inv = inFlight.get(frame.id)
        if (inv) inv.cancelled = frame.reason
        return
      }
      case 'ping':
        conn.send(frame.ts === undefined ? { type: 'pong' } : { type: 'pong', ts: frame.ts })
        return
      case 'pong':
        return
      case 'drain':
        draining = true
        print(`cfp-worker: the runtime is draining; finishing ${inFlight.size} invocation(s) in flight`)
        return
      case 'error':
        return handleError(frame.code, frame.message)
    }
  }

  /** Runs the stream's `canAccess({ groupId, id }, authContext)` (as Motia calls it) and answers `access_result`.
   * No `canAccess` allows; a stream this worker does not host, a throw or a non-true result refuses. */
  async function checkAccess(frame: AccessFrame): Promise<void> {
    const stream = lastLoad.streams.find((s) => s.manifest.name === frame.stream)
    let allowed = false
    if (!stream) {
      print(`cfp-worker: the runtime asked canAccess of stream '${frame.stream}', which this worker does not host; refused`)
    } else if (typeof stream.config.canAccess !== 'function') {
      allowed = true
    } else {
      try {
        allowed = Boolean(await stream.config.canAccess({ groupId: frame.groupId, id: frame.itemId }, frame.authContext))
      } catch (err) {
        print(`cfp-worker: canAccess of stream '${frame.stream}' (${stream.manifest.file}) threw; access refused: ${(err as Error).stack ?? String(err)}`)
      }
    }
    conn.send({ type: 'access_result', id: frame.id, allowed })
  }

  /** Answers `source` with the text of the step's own file (at most 1 MiB), never any other file. */
  async function sendSource(frame: SourceFrame): Promise<void> {
    const step = steps.get(frame.step) ?? lastLoad.steps.find((st) => st.manifest.name === frame.step)
    if (!step) {
      conn.send({ type: 'source_result', id: frame.id, ok: false, error: `this worker does not host step '${frame.step}'` })
      return
    }
    try {
      const info = await stat(step.path)
      if (info.size > MAX_SOURCE_BYTES) {
        conn.send({
          type: 'source_result',
          id: frame.id,
          ok: false,
          file: step.manifest.file,
          error: `${step.manifest.file} is ${info.size} bytes; the code view shows files up to 1 MiB`,
        })
        return
      }
      const text = await readFile(step.path, 'utf8')
      conn.send({ type: 'source_result', id: frame.id, ok: true, file: step.manifest.file, text })
    } catch (err) {
      conn.send({
        type: 'source_result',
        id: frame.id,
        ok: false,
        file: step.manifest.file,
        error: `cannot read ${step.manifest.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      })
    }
  }

  /** A malformed invoke that still names an id gets a failed result, so the runtime does not wait for a timeout. */
  function rejectBadInvoke(text: string, problem: string): void {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return
    }
    const { type, id } = (value ?? {}) as { type?: unknown; id?: unknown }
    if (type !== 'invoke' || typeof id !== 'string' || id === '' || !welcomed) return
    conn.send({ type: 'result', id, ok: false, error: { message: `the worker could not read this invocation: ${problem}`, retriable: false } })
  }

  function handleError(code: string, message: string): void {
    if (code === 'unauthenticated' || code === 'unsupported_protocol') {
      const hint = code === 'unauthenticated' ? ' Check --token / CFP_WORKER_TOKEN.' : ` This worker speaks protocol ${PROTOCOL_VERSION}.`
      void fatal(`the runtime refused the session (${code}): ${message}.${hint}`)
    } else {
      print(`cfp-worker: runtime error ${code}: ${message}`)
    }
  }

  function handleClose(code: number, reason: string): void {
    welcomed = false
    rpc.failAll('the connection to the runtime was lost')
    if (code === 4401 || code === 4400) void fatal(`the runtime closed the session (${code}${reason ? ` ${reason}` : ''})`)
  }

  async function fatal(message: string): Promise<void> {
    print(`cfp-worker: ${message}`)
    watcher?.close()
    await conn.stop()
    exit({ reason: 'fatal', message })
  }

  function startInvocation(frame: Extract<RuntimeFrame, { type: 'invoke' }>): void {
    if (draining || stopping) {
      const error = { message: 'the worker is shutting down and takes no new invocations', retriable: true }
      conn.send({ type: 'result', id: frame.id, ok: false, error })
      return
    }
    const gen = connGen
    const entry: { gen: number; cancelled?: string } = { gen }
    inFlight.set(frame.id, entry)
    void runInvocation(steps.get(frame.step), frame, { rpc, log: (e) => logs.add(e), streamNames })
      .then(({ frame: result, text, spans }) => {
        logs.flush()
        if (!result.ok && !entry.cancelled) print(failureLine(frame, result))
        // Step code's spans go first: the runtime takes them only while the invocation is in flight.
        if (!entry.cancelled && gen === connGen) for (const batch of spans) conn.send({ type: 'spans', id: frame.id, spans: batch })
        if (entry.cancelled) {
          print(`cfp-worker: invocation ${frame.id} of '${frame.step}' finished after the runtime cancelled it (${entry.cancelled}); result dropped`)
        } else if (gen !== connGen || !conn.send(text)) {
          print(`cfp-worker: the result of invocation ${frame.id} of '${frame.step}' was not sent: the connection it came on is gone (the runtime retries it)`)
        }
      })
      .catch((err: unknown) => print(`cfp-worker: internal error running invocation ${frame.id}: ${String(err)}`))
      .finally(() => {
        inFlight.delete(frame.id)
        if (inFlight.size === 0) {
          for (const w of idleWaiters) w()
          idleWaiters = []
        }
      })
  }

  // Reloads are serialised; changes during a reload queue exactly one more.
  let reloadChain: Promise<void> = Promise.resolve()
  let reloadQueued = false
  function reload(): Promise<void> {
    if (reloadQueued) return reloadChain
    reloadQueued = true
    reloadChain = reloadChain.then(async () => {
      reloadQueued = false
      try {
        await load()
        if (welcomed) sendRegister()
      } catch (err) {
        print(`cfp-worker: reload failed: ${(err as Error).stack ?? String(err)}`)
      }
    })
    return reloadChain
  }

  function waitIdle(ms: number): Promise<boolean> {
    if (inFlight.size === 0) return Promise.resolve(true)
    return new Promise((res) => {
      const t = setTimeout(() => res(false), ms)
      idleWaiters.push(() => {
        clearTimeout(t)
        res(true)
      })
    })
  }

  function stop(): Promise<void> {
    stopping ??= (async () => {
      watcher?.close()
      conn.send({ type: 'drain' })
      const limit = options.drainTimeoutMs ?? 10_000
      if (!(await waitIdle(limit))) {
        print(`cfp-worker: ${inFlight.size} invocation(s) still running after ${limit / 1000}s; closing (the runtime retries them)`)
      }
      logs.flush()
      await conn.stop()
      exit({ reason: 'stopped' })
    })()
    return stopping
  }

  await load()
  if (options.watch) {
    watcher = await watchProject(dir, (files) => {
      print(`cfp-worker: ${files.length === 1 ? `${relative(dir, files[0] ?? dir)} changed` : `${files.length} files changed`}; reloading`)
      void reload()
    })
  }
  conn.start()
  return { reload, stop, exited, inFlight: () => inFlight.size }
}
