import type { ApiRouteConfig, Handlers } from 'motia'
import { z } from 'zod'

const bodySchema = z.object({ name: z.string().min(1) })

export const config: ApiRouteConfig = {
  type: 'api',
  name: 'HelloApi',
  description: 'Accepts a greeting and hands it to the background flow',
  path: '/hello',
  method: 'POST',
  emits: ['hello.received'],
  flows: ['hello'],
  bodySchema,
  responseSchema: {
    202: z.object({ message: z.string(), traceId: z.string() }),
    400: z.object({ error: z.string() }),
  },
}

export const handler: Handlers['HelloApi'] = async (req, { emit, logger, traceId }) => {
  const parsed = bodySchema.safeParse(req.body)
  if (!parsed.success) {
    return { status: 400, body: { error: 'Send a JSON body like {"name": "Ada"}' } }
  }
  const { name } = parsed.data
  logger.info('Greeting received', { name })

  await emit({
    topic: 'hello.received',
    data: { name, receivedAt: new Date().toISOString() },
  })

  return {
    status: 202,
    body: { message: `Hello, ${name}! Your greeting is on its way.`, traceId },
  }
}
