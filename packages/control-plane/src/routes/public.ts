/** Routes reachable without credentials: health, the JWKS and the OpenAPI document. */
import type { FastifyInstance } from 'fastify'
import type { Services } from '../services.js'
import { obj, spec } from './schema.js'

export function publicRoutes(app: FastifyInstance, s: Services): void {
  app.get(
    '/health',
    {
      config: { auth: 'public' },
      schema: spec({ summary: 'Liveness and database reachability', tags: ['meta'], public: true, response: { 200: obj({ status: { type: 'string' } }) } }),
    },
    async () => {
      await s.db.query('SELECT 1')
      return { status: 'ok' }
    },
  )

  const jwk = { type: 'object', additionalProperties: { type: 'string' } }
  app.get(
    '/.well-known/jwks.json',
    {
      config: { auth: 'public' },
      schema: spec({
        summary: 'Public keys that verify access tokens (current, previous and next)',
        tags: ['tokens'],
        public: true,
        response: { 200: obj({ keys: { type: 'array', items: jwk } }) },
      }),
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=60')
      return s.keys.jwks()
    },
  )

  app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger())
}
