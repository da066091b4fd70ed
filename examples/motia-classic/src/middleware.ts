import { ApiMiddleware } from 'motia'

// Classic Motia middleware: (req, ctx, next). It may change the request the handler sees.

/** Logs every call with its duration and puts a request id on the request. */
export const requestLogger: ApiMiddleware = async (req, { logger }, next) => {
  const started = Date.now()
  const requestId = (req.headers['x-request-id'] as string | undefined) ?? Math.random().toString(36).slice(2, 10)
  req.headers['x-request-id'] = requestId
  const response = await next()
  logger.info('request handled', { requestId, status: response.status, ms: Date.now() - started })
  return { ...response, headers: { ...response.headers, 'x-request-id': requestId } }
}

/** Turns a thrown error into a 500 response with a generic body (details go to the log). */
export const errorHandler: ApiMiddleware = async (req, { logger }, next) => {
  try {
    return await next()
  } catch (error) {
    logger.error('handler failed', { error: error instanceof Error ? error.message : String(error) })
    return { status: 500, body: { error: 'Internal error', requestId: req.headers['x-request-id'] } }
  }
}
