/**
 * A real `cfp-runtime` wired to a control plane the test runs (packages/control-plane's test harness): region
 * `eu`, the harness's service token, the issuer of the harness's tokens, a runtime schema of the test's own.
 *
 * @example
 * const rt = await startControlledRuntime(h, { schema, issuer, args: ['--dev-endpoints'] })
 * await fetch(`${rt.base}/__cfp/api/steps`, …)
 * await rt.stop(); await dropSchema(schema)
 */
import pg from 'pg'
import { SERVICE_TOKEN } from '../../../packages/control-plane/src/test-support/harness.js'
import { ADMIN_DATABASE_URL, childEnv, REPO_ROOT, runtimeBin } from './env.js'
import { Proc } from './procs.js'

/** The `iss` of a control-plane access token (the runtime must be told it when it is not the URL it calls). */
export const issuerOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).iss as string

/**
 * Runtime tokens for control-plane access tokens: runtimes accept only `aud: cfp-runtime`, which the control
 * plane's `POST /v1/tokens/runtime` gives for a user's token (as the workbench does). Cached for 4 minutes per
 * token (they live 5), so a test that revokes a session afterwards sees the runtime drop the runtime token it
 * holds. Values that are not a JWT, or that the control plane refuses to exchange (forged, revoked), are
 * returned unchanged: the runtime then judges them.
 */
export function runtimeTokens(controlPlane: {
  request(method: string, url: string, opts?: { token?: string; body?: unknown }): Promise<{ status: number; json: any }>
}): (token: string) => Promise<string> {
  const cache = new Map<string, { token: string; until: number }>()
  return async (token) => {
    if (token.startsWith('cfp_') || token.split('.').length !== 3) return token
    const hit = cache.get(token)
    if (hit && hit.until > Date.now()) return hit.token
    const res = await controlPlane.request('POST', '/v1/tokens/runtime', { token, body: {} })
    if (res.status !== 200) return token
    cache.set(token, { token: res.json.access_token, until: Date.now() + 240_000 })
    return res.json.access_token as string
  }
}

export interface ControlledRuntime {
  proc: Proc
  /** `http://127.0.0.1:<port>` */
  base: string
  stop(): Promise<void>
}

export async function startControlledRuntime(
  controlPlane: { url: string },
  opts: { schema: string; issuer: string; args?: string[]; env?: Record<string, string>; name?: string; controlPlaneUrl?: string },
): Promise<ControlledRuntime> {
  const proc = new Proc({
    name: opts.name ?? 'cfp-runtime',
    command: runtimeBin(),
    args: [
      '--listen',
      '127.0.0.1:0',
      '--database-url',
      ADMIN_DATABASE_URL,
      '--schema',
      opts.schema,
      '--control-plane-url',
      opts.controlPlaneUrl ?? controlPlane.url,
      '--control-plane-issuer',
      opts.issuer,
      '--service-token',
      SERVICE_TOKEN,
      '--region',
      'eu',
      ...(opts.args ?? []),
    ],
    cwd: REPO_ROOT,
    env: childEnv({ RUST_LOG: 'warn', ...opts.env }),
  })
  const ready = await proc.waitForLine(/"ready":true/, 60_000).catch((e: unknown) => {
    proc.signal('SIGKILL') // never left running when it did not start
    throw e
  })
  return {
    proc,
    base: `http://${JSON.parse(ready.text).addr}`,
    async stop() {
      proc.signal('SIGTERM')
      await proc.exited
    },
  }
}

/** Drops a runtime schema a test made. */
export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  await c.connect()
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  } finally {
    await c.end()
  }
}
