import type { ApiRouteConfig, Handlers } from 'motia'
import { z } from 'zod'

const item = z.object({ sku: z.string(), qty: z.number().int().positive(), price: z.number().nonnegative() })
const bodySchema = z.object({
  id: z.string().min(1),
  items: z.array(item).min(1),
  note: z.string().optional(),
  // demo knobs: make the Python step fail this many attempts, or sleep on its first attempt
  failTimes: z.number().int().min(0).optional(),
  slowMs: z.number().int().min(0).optional(),
})

export const config: ApiRouteConfig = {
  type: 'api',
  name: 'PlaceOrder',
  description: 'Takes an order (TypeScript) and hands it to the Python pricing step',
  path: '/orders',
  method: 'POST',
  emits: ['order.placed'],
  flows: ['orders'],
  bodySchema,
  responseSchema: {
    202: z.object({ id: z.string(), traceId: z.string() }),
    400: z.object({ error: z.string() }),
  },
}

export const handler: Handlers['PlaceOrder'] = async (req, { emit, logger, traceId }) => {
  const parsed = bodySchema.safeParse(req.body)
  if (!parsed.success) return { status: 400, body: { error: parsed.error.issues.map((i) => i.message).join('; ') } }
  const order = parsed.data
  logger.info('Order placed', { id: order.id, items: order.items.length })
  await emit({ topic: 'order.placed', data: order })
  return { status: 202, body: { id: order.id, traceId } }
}
