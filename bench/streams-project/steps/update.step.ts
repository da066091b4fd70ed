import type { ApiRouteConfig, FlowContext } from 'motia'

export const config: ApiRouteConfig = { type: 'api', name: 'BenchUpdate', path: '/bench/update', method: 'POST', emits: [] }

// One update of the item every client's group holds: the runtime fans it out to all subscribers.
export const handler = async (req: { body: { n: number; t0: number } }, { streams }: FlowContext) => {
  const bench = (streams as unknown as Record<string, { set: (g: string, id: string, d: unknown) => Promise<unknown> }>).bench
  await bench.set('all', 'item', { n: req.body.n, t0: req.body.t0 })
  return { status: 200, body: { ok: true } }
}
