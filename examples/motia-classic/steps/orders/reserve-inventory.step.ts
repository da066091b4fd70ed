import { EventConfig, Handlers } from 'motia'
import { z } from 'zod'
import { Order, ORDERS, orderItemSchema, STOCK } from '../../src/orders'

export const config: EventConfig = {
  type: 'event',
  name: 'ReserveInventory',
  description: 'Reserves stock for each item; one customer at a time, in order',
  subscribes: ['order.created'],
  emits: [
    { topic: 'inventory.reserved', label: 'In stock' },
    { topic: 'inventory.insufficient', label: 'Out of stock', conditional: true },
  ],
  input: z.object({
    orderId: z.string(),
    customerId: z.string(),
    items: z.array(orderItemSchema),
  }),
  flows: ['orders'],
  infrastructure: {
    handler: { timeout: 10 },
    queue: { type: 'fifo', maxRetries: 3, visibilityTimeout: 30 },
  },
}

const INITIAL_STOCK = 100

export const handler: Handlers['ReserveInventory'] = async (input, { emit, logger, state }) => {
  const missing: string[] = []
  for (const item of input.items) {
    const available = (await state.get<number>(STOCK, item.sku)) ?? INITIAL_STOCK
    if (available < item.quantity) missing.push(item.sku)
  }

  if (missing.length > 0) {
    logger.warn('not enough stock', { orderId: input.orderId, missing })
    await emit({
      topic: 'inventory.insufficient',
      data: { orderId: input.orderId, missing },
    })
    return
  }

  for (const item of input.items) {
    const available = (await state.get<number>(STOCK, item.sku)) ?? INITIAL_STOCK
    await state.set(STOCK, item.sku, available - item.quantity)
  }
  const order = await state.get<Order>(ORDERS, input.orderId)
  if (order) await state.set(ORDERS, order.id, { ...order, status: 'reserved' })

  logger.info('stock reserved', { orderId: input.orderId, items: input.items.length })
  await emit({
    topic: 'inventory.reserved',
    data: { orderId: input.orderId, customerId: input.customerId },
    messageGroupId: input.customerId,
  })
}
