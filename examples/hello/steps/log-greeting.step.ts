import type { EventConfig, Handlers } from 'motia'
import { z } from 'zod'

export const config: EventConfig = {
  type: 'event',
  name: 'LogGreeting',
  description: 'Writes the finished greeting to the log',
  subscribes: ['hello.processed'],
  emits: [],
  input: z.object({ name: z.string(), greeting: z.string(), visits: z.number() }),
  flows: ['hello'],
}

export const handler: Handlers['LogGreeting'] = async (input, { logger }) => {
  logger.info(input.greeting, { name: input.name, visits: input.visits })
}
