/**
 * Input PostgreSQL cannot store is refused at the edge, before any handler runs: a NUL character (`\u0000`)
 * anywhere in the path parameters, query or body is a 400 `invalid_request` naming the field, not a 500 from
 * the database (`text` and `jsonb` both reject it). Found by the API fuzz suite (tests/api-fuzz).
 *
 * @example
 *   installInputGuard(app) // POST /v1/tenants/:id/teams {"name":"a\u0000b"} -> 400 "body/name must not contain NUL characters"
 */
import type { FastifyInstance } from 'fastify'
import { invalid } from './errors.js'

/** JSON-pointer-like path of the first string (or object key) containing NUL, or undefined. */
export function findNul(value: unknown, path = '', depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path || '/' : undefined
  if (value === null || typeof value !== 'object' || depth > 64) return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findNul(value[i], `${path}/${i}`, depth + 1)
      if (hit) return hit
    }
    return undefined
  }
  for (const [k, v] of Object.entries(value)) {
    const at = `${path}/${k.replace(/\u0000/g, '\\u0000')}`
    if (k.includes('\u0000')) return at
    const hit = findNul(v, at, depth + 1)
    if (hit) return hit
  }
  return undefined
}

export function installInputGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    for (const [where, value] of [
      ['params', request.params],
      ['querystring', request.query],
      ['body', request.body],
    ] as const) {
      const at = findNul(value)
      if (at) throw invalid(`${where}${at === '/' ? '' : at} must not contain NUL characters`)
    }
  })
}
