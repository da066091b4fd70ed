#!/usr/bin/env node
// A tiny OTLP/HTTP sink for `node bench/run.mjs api --otlp`: accepts POST /v1/traces and /v1/logs on loopback
// (answers 200 with an empty protobuf body), counts requests and bytes per path, and serves the counts as JSON on
// GET /stats. Bodies are not decoded: the benchmark measures the runtime's cost of exporting, not a collector.
//   node bench/lib/otlp-sink.mjs <port>     prints {"ready":true,"port":…} once listening
import { createServer } from 'node:http'

const port = Number(process.argv[2] ?? 0)
const counts = { '/v1/traces': { requests: 0, bytes: 0 }, '/v1/logs': { requests: 0, bytes: 0 } }
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(counts))
    return
  }
  const c = counts[req.url]
  if (req.method !== 'POST' || !c) {
    res.writeHead(404).end()
    req.resume()
    return
  }
  let bytes = 0
  req.on('data', (chunk) => (bytes += chunk.length))
  req.on('end', () => {
    c.requests++
    c.bytes += bytes
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' })
    res.end()
  })
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ ready: true, port: server.address().port })))
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)))
