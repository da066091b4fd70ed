/**
 * Where the workbench is served from. The control plane answers `GET /__cfp/control-plane` with
 * `{"service":"cfp-control-plane", "runtimes": {<region>: <url>}}`; a runtime (`cfp dev`) answers that path with
 * the SPA shell (HTML), and the path is never routed to a project's own API steps. Admin pages exist only in
 * control-plane mode; there the runtime pages call the runtime of the project's region (`runtimes`).
 */
export type Mode = 'runtime' | 'control'

export interface ServedBy {
  mode: Mode
  /** Control-plane mode: each region's runtime URL (`--runtime-urls`); only http(s) URLs are kept. */
  runtimes: Record<string, string>
}

function runtimesOf(value: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (!value || typeof value !== 'object') return out
  for (const [region, url] of Object.entries(value as Record<string, unknown>)) {
    if (typeof url === 'string' && /^https?:\/\/[^/]+$/.test(url.replace(/\/$/, ''))) out[region] = url.replace(/\/$/, '')
  }
  return out
}

export async function detectServer(doFetch: typeof fetch = (i, init) => globalThis.fetch(i, init), base = '/__cfp/', timeoutMs = 3000): Promise<ServedBy> {
  const runtime: ServedBy = { mode: 'runtime', runtimes: {} }
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), timeoutMs)
  try {
    const res = await doFetch(`${base}control-plane`, { headers: { accept: 'application/json' }, signal: ctrl.signal })
    if (!res.ok || !(res.headers.get('content-type') ?? '').includes('application/json')) return runtime
    const body = (await res.json()) as { service?: unknown; runtimes?: unknown }
    return body.service === 'cfp-control-plane' ? { mode: 'control', runtimes: runtimesOf(body.runtimes) } : runtime
  } catch {
    return runtime
  } finally {
    clearTimeout(timer)
  }
}

export async function detectMode(doFetch?: typeof fetch, base?: string, timeoutMs?: number): Promise<Mode> {
  return (await detectServer(doFetch, base, timeoutMs)).mode
}
