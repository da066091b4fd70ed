import type { ApiRouteConfig } from 'motia'

// Benchmark `chain`: API -> chain.a -> ChainA -> chain.b -> ChainB, every hop durable (queue rows).
// `t0` (ms since epoch, taken here) travels with the events; bench/run.mjs reads it from ChainB's queue row.
// `phase` tells the driven phases apart (warm-up, max, sustained).
export const config: ApiRouteConfig = {
  type: 'api',
  name: 'ChainApi',
  description: 'POST /chain emits chain.a',
  path: '/chain',
  method: 'POST',
  emits: ['chain.a'],
  flows: ['bench-chain'],
}

export const handler = async (req: { body?: { phase?: string } | null }, { emit }: { emit: (e: unknown) => Promise<void> }) => {
  await emit({ topic: 'chain.a', data: { t0: Date.now(), phase: req.body?.phase ?? 'none' } })
  return { status: 202, body: { ok: true } }
}
