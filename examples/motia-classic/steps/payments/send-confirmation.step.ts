import { EventConfig, Handlers } from 'motia'
import { z } from 'zod'

export const config: EventConfig = {
  type: 'event',
  name: 'SendConfirmation',
  description: 'Tells the customer the order is paid, or why it could not be filled',
  subscribes: ['payment.charged', 'inventory.insufficient'],
  emits: [],
  input: z.object({
    orderId: z.string(),
    paymentId: z.string().optional(),
    amount: z.number().optional(),
    missing: z.array(z.string()).optional(),
  }),
  flows: ['orders'],
}

export const handler: Handlers['SendConfirmation'] = async (input, { logger, state }) => {
  const sent = (await state.get<string[]>('confirmations', input.orderId)) ?? []
  const message = input.paymentId
    ? `Order ${input.orderId} is paid (${input.amount}). Thank you!`
    : `Order ${input.orderId} could not be filled: out of ${input.missing?.join(', ')}`
  await state.set('confirmations', input.orderId, [...sent, message])
  logger.info('confirmation sent', { orderId: input.orderId, message })
}
