import type { ApiRouteConfig } from 'motia'

// Benchmark `seq40`: POST /seq/start {"run": "<id>"} emits seq.1; Seq01..Seq40 pass the event along
// (seq.1 -> seq.2 -> ... -> seq.40); bench/run.mjs polls Seq40's queue row for the run id.
export const config: ApiRouteConfig = {
  type: 'api',
  name: 'SeqStart',
  description: 'POST /seq/start emits seq.1',
  path: '/seq/start',
  method: 'POST',
  emits: ['seq.1'],
  flows: ['bench-seq40'],
}

export const handler = async (req: { body?: { run?: string } | null }, { emit }: { emit: (e: unknown) => Promise<void> }) => {
  await emit({ topic: 'seq.1', data: { run: req.body?.run ?? 'none', t0: Date.now() } })
  return { status: 202, body: { ok: true } }
}
