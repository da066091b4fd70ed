/**
 * Where the runtime pages find their runtime, for the workbench's two homes (docs/workbench.md):
 *
 * - served by the runtime (`cfp dev`): same origin, `/__cfp/api`, the project's steps at the root, the admin
 *   token from this browser when there is one (loopback callers need none);
 * - served by the control plane: the runtime of the project's region (`runtimes` of `GET /__cfp/control-plane`),
 *   a runtime token exchanged for the session's (never the session's control-plane token itself),
 *   `X-CFP-Project`, API steps under `/p/<project>`, one fresh exchange on a 401.
 *
 * @example
 * createApiClient(remoteRuntime('https://rt.eu.example.com', project.id, session))
 */
import type { ApiClientOptions } from './client'

/** The part of the control-plane session the runtime client needs (kept structural: no admin code here). */
export interface TokenSource {
  /** A runtime token the runtime of `region` accepts (audience `cfp-runtime`: worthless at the control plane). */
  runtimeTokenFor(region: string | undefined): Promise<string | undefined>
  /** A fresh one after the runtime refused the last. */
  refreshRuntimeFor(region: string | undefined): Promise<string>
}

export function sameOriginRuntime(token?: () => string | undefined): ApiClientOptions {
  return token ? { token } : {}
}

export function remoteRuntime(runtimeUrl: string, projectId: string, session: TokenSource, region?: string): ApiClientOptions {
  const origin = runtimeUrl.replace(/\/+$/, '')
  return {
    baseUrl: `${origin}/__cfp/api`,
    stepBase: `${origin}/p/${encodeURIComponent(projectId)}`,
    project: projectId,
    token: () => session.runtimeTokenFor(region),
    refresh: () => session.refreshRuntimeFor(region),
  }
}

/** The runtime URL serving a region, or undefined when the control plane names none. */
export function runtimeFor(runtimes: Readonly<Record<string, string>> | undefined, region: string | undefined): string | undefined {
  if (!runtimes || !region || !Object.hasOwn(runtimes, region)) return undefined
  return runtimes[region]
}
