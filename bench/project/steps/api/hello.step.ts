import type { ApiRouteConfig } from 'motia'

// Benchmark `api`: the smallest API step, compared with a bare Node `http` server (bench/bare-node.mjs).
export const config: ApiRouteConfig = {
  type: 'api',
  name: 'Hello',
  description: 'GET /hello returns {"message":"hello"}',
  path: '/hello',
  method: 'GET',
  emits: [],
  flows: ['bench-api'],
}

export const handler = async () => ({ status: 200, body: { message: 'hello' } })
