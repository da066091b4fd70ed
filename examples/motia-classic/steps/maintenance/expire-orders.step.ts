import { CronConfig, Handlers } from 'motia'
import { Order, ORDERS } from '../../src/orders'

const MAX_PENDING_MS = 15 * 60 * 1000

export const config: CronConfig = {
  type: 'cron',
  name: 'ExpirePendingOrders',
  description: 'Every five minutes, expires orders left pending for more than 15 minutes',
  cron: '*/5 * * * *',
  emits: ['order.expired'],
  flows: ['orders'],
}

export const handler: Handlers['ExpirePendingOrders'] = async ({ emit, logger, state }) => {
  const orders = await state.getGroup<Order>(ORDERS)
  const now = Date.now()
  let expired = 0
  for (const order of orders) {
    if (order.status === 'pending' && now - Date.parse(order.createdAt) > MAX_PENDING_MS) {
      await state.set(ORDERS, order.id, { ...order, status: 'expired' })
      await emit({ topic: 'order.expired', data: { orderId: order.id } })
      expired++
    }
  }
  logger.info('pending orders checked', { checked: orders.length, expired })
}
