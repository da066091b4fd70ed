import { EventConfig, Handlers } from 'motia'
import { z } from 'zod'

export const config: EventConfig = {
  type: 'event',
  name: 'OrderExpired',
  description: 'Logs expired orders',
  subscribes: ['order.expired'],
  emits: [],
  input: z.object({ orderId: z.string() }),
  flows: ['orders'],
}

export const handler: Handlers['OrderExpired'] = async (input, { logger }) => {
  logger.warn('order expired', { orderId: input.orderId })
}
