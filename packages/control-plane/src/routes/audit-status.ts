/**
 * The audit chain's health (docs/control-plane.md, Audit): the last anchor and the last self-verification, and a
 * verification on demand. `audit.read` on the system: these cover every chain.
 */
import type { FastifyInstance } from 'fastify'
import { authorize } from '../authz.js'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import { obj, spec } from './schema.js'

const tags = ['audit']
const anchor = {
  type: ['object', 'null'],
  properties: {
    createdAt: { type: 'string' },
    digest: { type: 'string' },
    location: { type: 'string' },
    checkpoints: { type: 'integer' },
    tsa: { type: 'string' },
    genTime: { type: 'string' },
  },
}
const verification = obj({
  createdAt: { type: 'string' },
  ok: { type: 'boolean' },
  chains: { type: 'integer' },
  entries: { type: 'integer' },
  chain: { type: ['string', 'null'] },
  seq: { type: ['integer', 'null'] },
  finding: { type: ['string', 'null'] },
  detail: { type: ['string', 'null'] },
  durationMs: { type: 'integer' },
})

export function auditStatusRoutes(app: FastifyInstance, s: Services): void {
  app.get(
    '/v1/audit/status',
    {
      schema: spec({
        summary: 'Whether anchoring is on, the last anchor and the last verification of every chain by the control plane',
        tags,
        response: { 200: obj({ anchoring: { type: 'boolean' }, lastAnchor: anchor, lastVerification: { ...verification, type: ['object', 'null'] } }) },
      }),
    },
    async (request) => {
      authorize(request, s, 'audit.read', { path: {}, region: '' }, 'audit status')
      return s.auditWatch.status()
    },
  )

  let running: Promise<unknown> | undefined
  app.post(
    '/v1/audit/verify',
    {
      schema: spec({
        summary: 'Verify every chain now (one run at a time: 409 conflict while one is in progress)',
        tags,
        response: { 200: verification },
      }),
    },
    async (request) => {
      authorize(request, s, 'audit.read', { path: {}, region: '' }, 'audit verification')
      if (running) throw new ApiError(409, 'conflict', 'a verification of the audit chains is in progress; ask again when it ends')
      const run = s.auditWatch.verifyNow()
      running = run
      try {
        return await run
      } finally {
        running = undefined
      }
    },
  )
}
