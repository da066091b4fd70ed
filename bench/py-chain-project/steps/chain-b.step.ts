import type { EventConfig } from 'motia'

export const config: EventConfig = {
  type: 'event',
  name: 'ChainB',
  description: 'end of the chain: does nothing',
  subscribes: ['chain.b'],
  emits: [],
  flows: ['bench-chain'],
}

export const handler = async () => {}
