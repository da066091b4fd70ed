/**
 * Attack test (issue 8 item 7): `cfp start` killed with SIGKILL must not leave its worker serving. A supervisor
 * that restarts `cfp start` would otherwise run two workers for the project. A real `cfp start` process and the
 * real worker connect to a minimal WebSocket endpoint that counts open connections.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const CLI_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'main.js')

/** Accepts WebSocket upgrades on /__cfp/worker and keeps the sockets open without answering frames. */
async function socketCounter(): Promise<{ server: Server; url: string; open: Set<Socket>; accepted: () => number }> {
  const open = new Set<Socket>()
  let accepted = 0
  const server = createServer((_req, res) => res.writeHead(404).end())
  server.on('upgrade', (req, socket: Socket) => {
    const key = String(req.headers['sec-websocket-key'])
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    accepted += 1
    open.add(socket)
    socket.on('close', () => open.delete(socket))
    socket.on('error', () => open.delete(socket))
    socket.on('end', () => {
      open.delete(socket) // the peer closed its side (or died): that is what this test watches for
      socket.end()
    })
    socket.resume() // read (and drop) the frames, so that the peer's FIN is seen
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return { server, url: `ws://127.0.0.1:${port}/__cfp/worker`, open, accepted: () => accepted }
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0)
  } catch {
    return [] // ps exits 1 when there is none
  }
}

/** Running (a zombie waiting for PID 1 to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (pred()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return pred()
}

describe('cfp start killed with SIGKILL', () => {
  const cleanup: Array<() => void> = []
  afterEach(() => {
    for (const f of cleanup.splice(0)) f()
  })

  it('takes its worker down within 2 s: the process is gone and its runtime connection closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfp-start-kill-'))
    mkdirSync(join(dir, 'steps'))
    writeFileSync(
      join(dir, 'steps', 'noop.step.ts'),
      `export const config = { type: 'event', name: 'Noop', subscribes: ['x'], emits: [] }\nexport const handler = async () => {}\n`,
    )
    const counter = await socketCounter()
    cleanup.push(() => counter.server.close())
    const cfp: ChildProcess = spawn(process.execPath, [CLI_MAIN, 'start', '--dir', dir, '--url', counter.url], {
      env: { ...process.env, CFP_WORKER_TOKEN: 'cfp_wkr_test' },
      stdio: 'ignore',
    })
    let worker = 0
    cleanup.push(() => {
      for (const pid of [cfp.pid, worker]) if (pid && alive(pid)) process.kill(pid, 'SIGKILL')
    })
    expect(await until(() => counter.open.size === 1, 15_000)).toBe(true)
    worker = childrenOf(cfp.pid!)[0] ?? 0
    expect(worker).toBeGreaterThan(0)

    cfp.kill('SIGKILL')
    const closed = await until(() => counter.open.size === 0 && !alive(worker), 2_000)
    expect({ workerAlive: alive(worker), openConnections: counter.open.size }).toEqual({ workerAlive: false, openConnections: 0 })
    expect(closed).toBe(true)
    // and it does not come back
    await new Promise((r) => setTimeout(r, 300))
    expect(counter.accepted()).toBe(1)
  })
})
