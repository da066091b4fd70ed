import { EventConfig, Handlers } from 'motia'
import { z } from 'zod'
import { Order, ORDERS } from '../../src/orders'

export const config: EventConfig = {
  type: 'event',
  name: 'ChargePayment',
  description: 'Charges the customer; orders over 10,000 fail (to show retries and the dead-letter queue)',
  subscribes: ['inventory.reserved'],
  emits: ['payment.charged'],
  input: z.object({ orderId: z.string(), customerId: z.string() }),
  flows: ['orders'],
  infrastructure: {
    handler: { timeout: 20 },
    queue: { type: 'fifo', maxRetries: 2, visibilityTimeout: 60 },
  },
}

export const handler: Handlers['ChargePayment'] = async (input, { emit, logger, state }) => {
  const order = await state.get<Order>(ORDERS, input.orderId)
  if (!order) {
    logger.error('order vanished before payment', { orderId: input.orderId })
    return
  }
  if (order.total > 10_000) {
    // thrown errors are retried (maxRetries), then the event lands in the dead-letter queue
    throw new Error(`Payment declined for ${order.id}: amount ${order.total} over the limit`)
  }

  const paymentId = `pay_${order.id}`
  await state.set(ORDERS, order.id, { ...order, status: 'paid' })
  logger.info('payment charged', { orderId: order.id, paymentId, amount: order.total })

  await emit({
    topic: 'payment.charged',
    data: { orderId: order.id, paymentId, amount: order.total },
  })
}
