/**
 * Where the workbench is served from. The control plane answers `GET /__cfp/control-plane` with
 * `{"service":"cfp-control-plane"}`; a runtime (`cfp dev`) answers that path with the SPA shell (HTML), and the
 * path is never routed to a project's own API steps. Admin pages exist only in control-plane mode, runtime
 * pages only in runtime mode.
 */
export type Mode = 'runtime' | 'control'

export async function detectMode(doFetch: typeof fetch = (i, init) => globalThis.fetch(i, init), base = '/__cfp/', timeoutMs = 3000): Promise<Mode> {
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), timeoutMs)
  try {
    const res = await doFetch(`${base}control-plane`, { headers: { accept: 'application/json' }, signal: ctrl.signal })
    if (!res.ok || !(res.headers.get('content-type') ?? '').includes('application/json')) return 'runtime'
    const body = (await res.json()) as { service?: unknown }
    return body.service === 'cfp-control-plane' ? 'control' : 'runtime'
  } catch {
    return 'runtime'
  } finally {
    clearTimeout(timer)
  }
}
