// Baseline of the `api` benchmark: a bare Node `http` server answering GET /hello with the same JSON body as
// the CFP Hello step. Usage: node bench/bare-node.mjs <port>  (listens on 127.0.0.1; prints {"ready":true,...}).
import { createServer } from 'node:http'

const port = Number(process.argv[2] ?? 0)
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/hello') {
    const body = JSON.stringify({ message: 'hello' })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  } else {
    res.writeHead(404, { 'content-length': 0 })
    res.end()
  }
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ ready: true, addr: `127.0.0.1:${server.address().port}` }))
})
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)).closeAllConnections())
