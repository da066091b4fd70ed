import type { EventConfig, Handlers } from 'motia'
import { z } from 'zod'

export const config: EventConfig = {
  type: 'event',
  name: 'ProcessGreeting',
  description: 'Counts how often each name was greeted and builds the reply',
  subscribes: ['hello.received'],
  emits: ['hello.processed'],
  input: z.object({ name: z.string(), receivedAt: z.string() }),
  flows: ['hello'],
}

export const handler: Handlers['ProcessGreeting'] = async (input, { emit, logger, state }) => {
  const visits = ((await state.get<number>('greetings', input.name)) ?? 0) + 1
  await state.set('greetings', input.name, visits)

  const greeting = visits === 1 ? `Hello, ${input.name}!` : `Welcome back, ${input.name} (visit ${visits})`
  logger.info('Greeting processed', { name: input.name, visits })

  await emit({
    topic: 'hello.processed',
    data: { name: input.name, greeting, visits },
  })
}
