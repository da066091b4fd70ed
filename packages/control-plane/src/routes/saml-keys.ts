/**
 * Rotation of a SAML provider's SP signing key (saml-sp-key.ts): list the keys, create a `next` key (published in
 * the SP metadata at once, signing nothing yet), activate it (it signs from then on; the replaced key stays
 * published as `previous` for a grace period), and delete the previous key (end of its grace period now) or the
 * next key (a rotation abandoned). Same rules as the other provider routes: `idp.read` to list, `idp.manage` to
 * change; a provider the caller cannot see is 404 like an unknown id, one it sees without the right is 403. An
 * OIDC provider has no such keys (404). Private keys never appear in an answer.
 */
import type { FastifyInstance } from 'fastify'
import { audit } from '../audit/record.js'
import { authorize } from '../authz.js'
import type { Queryable } from '../db/pool.js'
import { ApiError, notFound } from '../errors.js'
import { activateNextKey, createNextKey, deleteKey, spKeys, spKeyView } from '../auth/saml-sp-key.js'
import type { Services } from '../services.js'
import { findIdp } from './idps.js'
import { idParams, list, obj, spec, timestamp, uuid } from './schema.js'

export const spKeySchema = obj(
  {
    id: uuid,
    state: { type: 'string', enum: ['current', 'next', 'previous'] },
    certificate: { type: 'string', description: 'PEM' },
    fingerprintSha256: { type: 'string', description: "SHA-256 of the certificate's DER, colon-separated hex" },
    notBefore: timestamp,
    notAfter: timestamp,
    createdAt: timestamp,
    activatedAt: { ...timestamp, description: 'when it became current (not for a next key)' },
    publishedUntil: { ...timestamp, description: 'a previous key: when it leaves the metadata' },
  },
  ['id', 'state', 'certificate', 'fingerprintSha256', 'notBefore', 'notAfter', 'createdAt'],
)

const what = 'identity provider'

export function samlKeyRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['identity providers']
  const params = idParams('idpId')

  /** The SAML provider, authorized for `action` (the row locked when `lock`). */
  async function samlIdp(request: Parameters<typeof authorize>[0], q: Queryable, action: 'idp.read' | 'idp.manage', lock = false) {
    const found = await findIdp(q, (request.params as { idpId: string }).idpId, lock)
    authorize(request, s, action, found?.tenant, what)
    if (found!.row.kind !== 'saml') throw new ApiError(404, 'not_found', 'an OIDC provider has no SAML signing keys')
    return found!.row as { id: string; tenant_id: string }
  }

  app.get<{ Params: { idpId: string } }>(
    '/v1/idps/:idpId/saml/signing-keys',
    {
      schema: spec({
        summary:
          "A SAML provider's SP signing keys: current (signs), next (published, not signing yet), previous (replaced, published " +
          'for a grace period); certificates and fingerprints, never private keys. The current key is created if there is none yet',
        tags,
        params,
        response: { 200: list(spKeySchema) },
      }),
    },
    async (request) => {
      const p = await samlIdp(request, s.db, 'idp.read')
      return { items: (await spKeys(s, p.id)).map(spKeyView) }
    },
  )

  app.post<{ Params: { idpId: string } }>(
    '/v1/idps/:idpId/saml/signing-keys',
    {
      schema: spec({
        summary:
          'Start a rotation: a next SP signing key, listed in the SP metadata after the current one at once; requests stay signed ' +
          'with the current key until activation. 409 when the provider already has a next key',
        tags,
        params,
        response: { 201: spKeySchema },
      }),
    },
    async (request, reply) => {
      const view = await s.db.tx(async (c) => {
        const idp = await samlIdp(request, c, 'idp.manage', true)
        const v = spKeyView(await createNextKey(s, c, idp.id))
        await audit(s, c, request, {
          kind: 'idp.saml_key.create',
          scope: { tenant: idp.tenant_id },
          target: { type: 'idp', id: idp.id },
          details: { slot: 'next', fingerprint: v.fingerprintSha256 },
        })
        return v
      })
      reply.status(201)
      return view
    },
  )

  app.post<{ Params: { idpId: string } }>(
    '/v1/idps/:idpId/saml/signing-keys/activate',
    {
      schema: spec({
        summary:
          'Finish a rotation: the next key signs from now on; the replaced key stays in the metadata as previous for 7 days (an ' +
          'older previous key is dropped). 409 when there is no next key. Returns the keys after',
        tags,
        params,
        response: { 200: list(spKeySchema) },
      }),
    },
    async (request) => {
      const keys = await s.db.tx(async (c) => {
        const idp = await samlIdp(request, c, 'idp.manage', true)
        const after = await activateNextKey(s, c, idp.id)
        const current = after.map(spKeyView).find((k) => k.state === 'current')
        await audit(s, c, request, {
          kind: 'idp.saml_key.activate',
          scope: { tenant: idp.tenant_id },
          target: { type: 'idp', id: idp.id },
          details: { fingerprint: current?.fingerprintSha256 ?? null },
        })
        return after
      })
      request.log.info({ provider: request.params.idpId }, 'SAML SP signing key rotated')
      return { items: keys.map(spKeyView) }
    },
  )

  for (const state of ['previous', 'next'] as const) {
    app.delete<{ Params: { idpId: string } }>(
      `/v1/idps/:idpId/saml/signing-keys/${state}`,
      {
        schema: spec({
          summary:
            state === 'previous'
              ? 'Drop the previous SP signing key from the metadata now, before its grace period ends'
              : 'Abandon a rotation: delete the next SP signing key before it is activated',
          tags,
          params,
          response: { 204: { type: 'null' } },
        }),
      },
      async (request, reply) => {
        await s.db.tx(async (c) => {
          const p = await samlIdp(request, c, 'idp.manage', true)
          if (!(await deleteKey(s, c, p.id, state))) throw notFound(`${state} signing key`)
          await audit(s, c, request, {
            kind: 'idp.update',
            scope: { tenant: p.tenant_id },
            target: { type: 'idp', id: p.id },
            details: { slot: state },
          })
        })
        return reply.status(204).send()
      },
    )
  }
}
