/** The one-time setup link: `GET /v1/setup?token=…` shows a form, `POST /v1/setup` creates the first system admin. */
import type { FastifyInstance } from 'fastify'
import { completeSetup } from '../auth/bootstrap.js'
import { issueTokens, tokenResponseSchema } from '../auth/issue.js'
import type { Services } from '../services.js'
import { body, spec } from './schema.js'

const page = (token: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>CFP setup</title><style>body{font:16px system-ui;max-width:28rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0}input{width:100%;padding:.5rem;box-sizing:border-box}</style></head>
<body><h1>Create the first system admin</h1>
<form method="post" action="/v1/setup">
<input type="hidden" name="token" value="${token.replace(/[^A-Za-z0-9_-]/g, '')}">
<label>E-mail <input name="email" type="email" required autocomplete="username"></label>
<label>Name <input name="displayName" autocomplete="name"></label>
<label>Password (12+ characters) <input name="password" type="password" minlength="12" required autocomplete="new-password"></label>
<button type="submit">Create admin</button></form></body></html>`

export function setupRoutes(app: FastifyInstance, s: Services): void {
  app.get<{ Querystring: { token: string } }>(
    '/v1/setup',
    {
      config: { auth: 'public' },
      schema: spec({
        summary: 'The setup form (opened from the link printed at first start)',
        tags: ['setup'],
        public: true,
        querystring: { type: 'object', required: ['token'], properties: { token: { type: 'string', maxLength: 100 } } },
        produces: ['text/html'],
        response: { 200: { type: 'string' } },
      }),
    },
    async (request, reply) => {
      reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
      reply.header('referrer-policy', 'no-referrer')
      return reply.type('text/html; charset=utf-8').send(page(request.query.token))
    },
  )

  app.post<{ Body: { token: string; email: string; password: string; displayName?: string } }>(
    '/v1/setup',
    {
      config: { auth: 'public' },
      schema: spec({
        summary: 'Create the first system admin with the one-time setup token; returns a token pair',
        tags: ['setup'],
        public: true,
        body: body(
          {
            token: { type: 'string', minLength: 1, maxLength: 100 },
            email: { type: 'string', format: 'email', maxLength: 320 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            displayName: { type: 'string', maxLength: 200 },
          },
          ['token', 'email', 'password'],
        ),
        response: { 201: tokenResponseSchema },
      }),
    },
    async (request, reply) => {
      const { userId } = await completeSetup(s, request.body)
      const session = await s.sessions.create(s.db, userId, 'password')
      reply.status(201)
      return issueTokens(s, { userId, ...session })
    },
  )
}
