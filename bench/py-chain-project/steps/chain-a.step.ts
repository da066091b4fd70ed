import type { EventConfig } from 'motia'

export const config: EventConfig = {
  type: 'event',
  name: 'ChainA',
  description: 'chain.a -> chain.b',
  subscribes: ['chain.a'],
  emits: ['chain.b'],
  flows: ['bench-chain'],
}

export const handler = async (input: { t0: number; phase: string }, { emit }: { emit: (e: unknown) => Promise<void> }) => {
  await emit({ topic: 'chain.b', data: { t0: input.t0, phase: input.phase } })
}
