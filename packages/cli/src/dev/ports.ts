/** TCP port helpers for `cfp dev`: pick a free port, or check that a requested one is free. */
import { createServer } from 'node:net'
import { CliError } from '../util/errors.js'

/** A port the OS considers free right now on `host` (there is a small race until someone binds it). */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Throws a CliError naming the port when something already listens on it. */
export function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new CliError(`Port ${port} on ${host} is already in use`, {
            explanation: 'Another program (perhaps another `cfp dev`) listens there.',
            action: `Stop it, or pick another port: cfp dev --port ${port + 1}`,
          }),
        )
      } else if (err.code === 'EADDRNOTAVAIL') {
        reject(new CliError(`Cannot listen on ${host}: no such address on this machine`, { action: 'Use --host 127.0.0.1.' }))
      } else if (err.code === 'EACCES') {
        reject(new CliError(`Not allowed to listen on port ${port}`, { action: 'Use a port above 1024, e.g. --port 3000.' }))
      } else {
        reject(err)
      }
    })
    server.listen(port, host, () => server.close(() => resolve()))
  })
}
