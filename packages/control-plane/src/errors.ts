/**
 * The one JSON error shape, `{ error: { code, message, details? } }`, and the one place errors become HTTP.
 * Codes are stable (docs/control-plane.md lists them); 5xx bodies are generic, details go to the log with
 * the request id.
 */
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export type ErrorCode =
  | 'invalid_request'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'not_empty'
  | 'invalid_grant'
  | 'login_failed'
  | 'setup_unavailable'
  | 'sso_failed'
  | 'email_not_verified'
  | 'slo_failed'
  | 'payload_too_large'
  | 'too_many_attempts'
  | 'unsupported_media_type'
  | 'internal'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export const unauthenticated = (): ApiError => new ApiError(401, 'unauthenticated', 'missing, invalid, expired or revoked credentials')
export const forbidden = (action: string): ApiError => new ApiError(403, 'forbidden', `your role bindings do not allow ${action} here`)
export const notFound = (what = 'resource'): ApiError => new ApiError(404, 'not_found', `${what} not found`)
export const invalid = (message: string): ApiError => new ApiError(400, 'invalid_request', message)
export const conflict = (message: string): ApiError => new ApiError(409, 'conflict', message)
/** A tenant or team that still holds teams or projects cannot be deleted; `details` counts them. */
export const notEmpty = (message: string, details: Record<string, number>): ApiError => new ApiError(409, 'not_empty', message, details)

export const errorBodySchema = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const

function send(reply: FastifyReply, status: number, code: ErrorCode, message: string, details?: unknown): FastifyReply {
  const error: Record<string, unknown> = { code, message }
  if (details !== undefined) error.details = details
  return reply.status(status).type('application/json; charset=utf-8').send({ error })
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | ApiError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ApiError) {
      const retry = err.details?.retryAfterSeconds
      if (typeof retry === 'number') reply.header('retry-after', String(retry))
      return send(reply, err.status, err.code, err.message, err.details)
    }
    const fe = err as FastifyError
    if (fe.validation) {
      const where = fe.validationContext ?? 'request'
      const first = fe.validation[0]
      const path = first ? `${where}${first.instancePath}` : where
      return send(reply, 400, 'invalid_request', `${path} ${first?.message ?? 'is invalid'}`.trim())
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return send(reply, 413, 'payload_too_large', 'request body too large')
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return send(reply, 415, 'unsupported_media_type', 'unsupported content type')
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return send(reply, fe.statusCode, 'invalid_request', 'malformed request')
    }
    request.log.error({ err }, 'request failed')
    return send(reply, 500, 'internal', `internal error (request ${request.id})`)
  })
  app.setNotFoundHandler((_request, reply) => send(reply, 404, 'not_found', 'no such route'))
}

/**
 * Errors the router raises before any route or hook runs (Fastify's `frameworkErrors` option): a path
 * parameter over the router's length limit (414) or a malformed percent-encoding (400). Without it they
 * answer in Fastify's own shape.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void send(reply, 414, 'invalid_request', 'a path parameter is too long')
  } else if (err.code === 'FST_ERR_BAD_URL') {
    void send(reply, 400, 'invalid_request', 'the URL is not validly percent-encoded')
  } else {
    request.log.error({ err }, 'request failed')
    void send(reply, 500, 'internal', `internal error (request ${request.id})`)
  }
}

/** Requests Node's HTTP parser refuses (Fastify's `clientErrorHandler`): same shape, then close. */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request headers too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request timed out']
        : [400, 'Bad Request', 'malformed HTTP request']
  const body = JSON.stringify({ error: { code: 'invalid_request', message } })
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy(err)
}
