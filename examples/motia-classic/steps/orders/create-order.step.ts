import { ApiRouteConfig, Handlers } from 'motia'
import { z } from 'zod'
import { errorHandler, requestLogger } from '../../src/middleware'
import { newOrderId, Order, ORDERS, orderItemSchema, orderTotal } from '../../src/orders'

const bodySchema = z.object({
  customerId: z.string().min(1),
  items: z.array(orderItemSchema).min(1),
})

export const config: ApiRouteConfig = {
  type: 'api',
  name: 'CreateOrder',
  description: 'Accepts an order, stores it as pending and starts fulfilment',
  path: '/orders',
  method: 'POST',
  emits: [{ topic: 'order.created', label: 'Order accepted' }],
  flows: ['orders'],
  middleware: [requestLogger, errorHandler],
  bodySchema,
  responseSchema: {
    201: z.object({ id: z.string(), total: z.number(), status: z.string() }),
    400: z.object({ error: z.string(), issues: z.array(z.any()).optional() }),
  },
}

export const handler: Handlers['CreateOrder'] = async (req, { emit, logger, state, traceId }) => {
  // Motia never enforces bodySchema; classic handlers validate themselves.
  const parsed = bodySchema.safeParse(req.body)
  if (!parsed.success) {
    return { status: 400, body: { error: 'Invalid order', issues: parsed.error.issues } }
  }

  const order: Order = {
    id: newOrderId(),
    customerId: parsed.data.customerId,
    items: parsed.data.items,
    total: orderTotal(parsed.data.items),
    status: 'pending',
    createdAt: new Date().toISOString(),
  }
  await state.set(ORDERS, order.id, order)
  logger.info('order created', { orderId: order.id, total: order.total, traceId })

  await emit({
    topic: 'order.created',
    data: { orderId: order.id, customerId: order.customerId, items: order.items },
    // reservations of one customer are processed in order (FIFO subscriber)
    messageGroupId: order.customerId,
  })

  return { status: 201, body: { id: order.id, total: order.total, status: order.status } }
}
