/**
 * The workbench in the browser: the built SPA (`--workbench-dir`, normally `apps/workbench/dist`) under
 * `/__cfp/` — files by path, `index.html` for client routes, immutable caching of hashed assets, a strict
 * content-security policy on the shell — and `GET /` redirecting there. `GET /__cfp/control-plane` tells the
 * SPA it is served by a control plane (the runtime answers the same path with the shell) and where each region's
 * runtime is (`--runtime-urls`), which the shell's `connect-src` then allows. `GET
 * /v1/auth/providers?tenant=<slug>` lists a tenant's enabled SSO providers for the login page: id, name, kind and
 * login URL, nothing else; an unknown tenant gets an empty list (no enumeration of tenants).
 *
 * @example
 *   cfp-control-plane --workbench-dir apps/workbench/dist   # http://127.0.0.1:4100/ → /__cfp/
 */
import { createHash } from 'node:crypto'
import { readFile, realpath, stat } from 'node:fs/promises'
import { extname, join, sep } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { ApiError } from '../errors.js'
import type { Services } from '../services.js'
import { list, obj, spec, uuid } from './schema.js'

const BASE = '/__cfp/'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

/** What `GET /__cfp/control-plane` answers: the marker the SPA detects, and each region's runtime URL. */
export function controlPlaneInfo(runtimeUrls: Record<string, string>): { service: string; api: string; runtimes: Record<string, string> } {
  return { service: 'cfp-control-plane', api: '/v1', runtimes: { ...runtimeUrls } }
}

/**
 * `script-src` hashes of the shell's inline scripts (the theme is set before first paint), so no 'unsafe-inline';
 * `connect-src` adds the runtimes' origins the runtime pages call (API, live feed, API steps).
 */
export function shellPolicy(html: string, runtimeOrigins: readonly string[] = []): string {
  const hashes = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    (m) =>
      `'sha256-${createHash('sha256')
        .update(m[1] ?? '')
        .digest('base64')}'`,
  )
  return [
    "default-src 'self'",
    `script-src 'self' ${hashes.join(' ')}`.trim(),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...new Set(runtimeOrigins)].join(' '),
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ].join('; ')
}

/**
 * Maps a request path under `/__cfp/` to a file inside `root`, or undefined for anything that could leave it:
 * `..`, backslashes, NUL, encoded separators, dot-files.
 */
export function safeRelative(path: string): string[] | undefined {
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return undefined
  }
  if (/[\\\0]/.test(decoded)) return undefined
  const parts = decoded.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.some((p) => p === '..' || p.startsWith('.'))) return undefined
  return parts
}

interface Found {
  file: string
  bytes: Buffer
}

async function readInside(root: string, parts: string[]): Promise<Found | undefined> {
  if (parts.length === 0) return undefined
  try {
    const file = await realpath(join(root, ...parts))
    if (!file.startsWith(root + sep)) return undefined
    if (!(await stat(file)).isFile()) return undefined
    return { file, bytes: await readFile(file) }
  } catch {
    return undefined
  }
}

export function uiRoutes(app: FastifyInstance, s: Services): void {
  const config = { auth: 'public' as const }
  const hide = { hide: true }

  app.get('/', { config, schema: hide }, async (_request, reply) => reply.redirect(BASE, 302))
  app.get('/__cfp', { config, schema: hide }, async (_request, reply) => reply.redirect(BASE, 302))

  app.get('/__cfp/control-plane', { config, schema: hide }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return controlPlaneInfo(s.options.runtimeUrls)
  })

  const sendShell = async (reply: FastifyReply, root: string) => {
    const html = await readFile(join(root, 'index.html'), 'utf8').catch(() => undefined)
    if (html === undefined) throw new ApiError(404, 'not_found', 'the workbench has no index.html: build it (npm run build -w apps/workbench)')
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', shellPolicy(html, Object.values(s.options.runtimeUrls)))
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .send(html)
  }

  app.get<{ Params: { '*': string } }>('/__cfp/*', { config, schema: hide }, async (request, reply) => {
    const dir = s.options.workbenchDir
    if (!dir) {
      throw new ApiError(404, 'not_found', 'the workbench is not served here: build it (npm run build -w apps/workbench) or pass --workbench-dir')
    }
    const root = await realpath(dir).catch(() => dir)
    const parts = safeRelative(request.params['*'] ?? '')
    if (!parts) throw new ApiError(404, 'not_found', 'no such workbench file')
    const found = await readInside(root, parts)
    if (!found) {
      // client routes get the shell; a missing file (a name with an extension) is a plain 404
      if (parts.length > 0 && parts[parts.length - 1]!.includes('.')) throw new ApiError(404, 'not_found', 'no such workbench file')
      return sendShell(reply, root)
    }
    const ext = extname(found.file)
    if (ext === '.html') return sendShell(reply, root)
    const hashed = parts[0] === 'assets'
    return reply
      .type(TYPES[ext] ?? 'application/octet-stream')
      .header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'public, max-age=300')
      .header('x-content-type-options', 'nosniff')
      .send(found.bytes)
  })

  const providerSchema = obj({ id: uuid, name: { type: 'string' }, kind: { type: 'string', enum: ['oidc', 'saml'] }, loginUrl: { type: 'string' } })
  app.get<{ Querystring: { tenant: string } }>(
    '/v1/auth/providers',
    {
      config,
      schema: spec({
        summary: "A tenant's enabled SSO providers, for login pages (an unknown tenant has none)",
        tags: ['sso'],
        public: true,
        querystring: {
          type: 'object',
          required: ['tenant'],
          properties: { tenant: { type: 'string', minLength: 1, maxLength: 64 } },
        },
        response: { 200: list(providerSchema) },
      }),
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store')
      const slug = request.query.tenant.toLowerCase()
      if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(slug)) return { items: [] }
      const { rows } = await s.db.query<{ id: string; name: string; kind: 'oidc' | 'saml' }>(
        `SELECT i.id, i.name, i.kind FROM identity_providers i JOIN tenants t ON t.id = i.tenant_id
          WHERE t.slug = $1 AND t.deleted_at IS NULL AND i.enabled ORDER BY i.name`,
        [slug],
      )
      return { items: rows.map((r) => ({ id: r.id, name: r.name, kind: r.kind, loginUrl: `${s.options.publicUrl}/v1/auth/${r.kind}/${r.id}/login` })) }
    },
  )
}
