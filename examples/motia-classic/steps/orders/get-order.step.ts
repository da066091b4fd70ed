import { ApiRouteConfig, Handlers } from 'motia'
import { z } from 'zod'
import { requestLogger } from '../../src/middleware'
import { Order, ORDERS, orderSchema } from '../../src/orders'

export const config: ApiRouteConfig = {
  type: 'api',
  name: 'GetOrder',
  description: 'Returns one order by id',
  path: '/orders/:id',
  method: 'GET',
  emits: [],
  flows: ['orders'],
  middleware: [requestLogger],
  queryParams: [{ name: 'fields', description: 'comma-separated fields to return (default: all)' }],
  responseSchema: {
    200: orderSchema.partial(),
    404: z.object({ error: z.string() }),
  },
}

export const handler: Handlers['GetOrder'] = async (req, { state }) => {
  const order = await state.get<Order>(ORDERS, req.pathParams.id)
  if (!order) {
    return { status: 404, body: { error: `No order ${req.pathParams.id}` } }
  }
  const fields = req.queryParams.fields
  if (typeof fields === 'string' && fields.length > 0) {
    const wanted = new Set(fields.split(','))
    const picked = Object.fromEntries(Object.entries(order).filter(([key]) => wanted.has(key)))
    return { status: 200, body: picked }
  }
  return { status: 200, body: order }
}
