/**
 * The one-time setup link: `GET /v1/setup?token=…` shows a form, `POST /v1/setup` creates the first system admin.
 * The form, posted by a browser, ends on the sign-in page (`/__cfp/login`, or a page saying how to sign in when
 * no workbench is served) and never shows a token; a refusal is shown as a page. An API client posting JSON gets
 * the admin's token pair (201) and JSON errors, as before.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { completeSetup } from '../auth/bootstrap.js'
import { issueTokens, tokenResponseSchema } from '../auth/issue.js'
import { ApiError } from '../errors.js'
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

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** A small page after the form was posted (no script, no token). */
const notice = (title: string, text: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>CFP setup</title><style>body{font:16px system-ui;max-width:28rem;margin:2rem auto;padding:0 1rem}code{font-size:.9em}</style></head>
<body><h1>${escapeHtml(title)}</h1><p>${text}</p></body></html>`

function sendPage(reply: FastifyReply, status: number, html: string) {
  reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
  reply.header('referrer-policy', 'no-referrer')
  reply.header('cache-control', 'no-store')
  return reply.status(status).type('text/html; charset=utf-8').send(html)
}

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
        response: {
          201: tokenResponseSchema,
          200: { type: 'string', description: 'the form was posted and no workbench is served: how to sign in' },
          303: { type: 'null', description: 'the form was posted: to the sign-in page' },
        },
      }),
    },
    async (request, reply) => {
      const fromForm = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
      if (!fromForm) {
        const { userId } = await completeSetup(s, request.body, request)
        const session = await s.sessions.create(s.db, userId, 'password')
        reply.status(201)
        return issueTokens(s, { userId, ...session })
      }
      try {
        await completeSetup(s, request.body, request)
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500) throw err
        return sendPage(reply, err.status, notice('Setup failed', `${escapeHtml(err.message)}.`))
      }
      if (s.options.workbenchDir !== undefined) {
        reply.header('cache-control', 'no-store')
        return reply.redirect('/__cfp/login?setup=done', 303)
      }
      const email = escapeHtml(request.body.email)
      return sendPage(
        reply,
        200,
        notice(
          'System admin created',
          `Sign in as ${email}: with the workbench (start the control plane with <code>--workbench-dir</code>), or ` +
            `with the API, <code>POST /v1/auth/login {"email", "password"}</code>.`,
        ),
      )
    },
  )
}
