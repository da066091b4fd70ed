import type { ApiRouteConfig, Handlers } from 'motia'

export const config: ApiRouteConfig = {
  type: 'api',
  name: 'GetOrder',
  description: 'Reads what the Python step wrote (state and stream) and the receipt',
  path: '/orders/:id',
  method: 'GET',
  emits: [],
  flows: ['orders'],
}

export const handler: Handlers['GetOrder'] = async (req, { state, streams }) => {
  const id = req.pathParams.id as string
  const [order, receipt, status] = await Promise.all([
    state.get('orders', id),
    state.get('receipts', id),
    streams.orderStatus.get('orders', id),
  ])
  if (!order) return { status: 404, body: { error: `no order ${id}` } }
  return { status: 200, body: { order, receipt, status } }
}
