/**
 * A small client for the runtime's admin API (`/__cfp/api/*`), used by `cfp emit` and `cfp dlq`.
 *
 * Every failure becomes a CliError that says what the runtime answered: its `{error: {code, message}}` body,
 * or the status and the start of a non-JSON body, or the network error with a hint to start `cfp dev`.
 *
 * @example
 * const api = new RuntimeApi({ url: 'http://127.0.0.1:3000', token })
 * const { eventId } = await api.request<{ eventId: string }>('POST', '/__cfp/api/emit', { topic: 't', data: {} })
 */
import { CliError, messageOf } from './errors.js'

export interface ApiTarget {
  url: string
  token: string
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

export interface RuntimeErrorBody {
  error: { code: string; message: string; details?: unknown }
}

function isRuntimeError(body: unknown): body is RuntimeErrorBody {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error
  return typeof e === 'object' && e !== null && typeof e.message === 'string'
}

function causeCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause
  return typeof cause?.code === 'string' ? cause.code : undefined
}

export class RuntimeApi {
  constructor(
    private readonly target: ApiTarget,
    private readonly fetchImpl: FetchLike = fetch,
    private readonly timeoutMs = 30_000,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.target.url}${path}`
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.target.token}`,
      accept: 'application/json',
    }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await this.fetchImpl(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (cause) {
      const code = causeCode(cause)
      const timedOut = (cause as { name?: string }).name === 'TimeoutError'
      throw new CliError(
        timedOut
          ? `The CFP runtime at ${this.target.url} did not answer ${method} ${path} within ${this.timeoutMs / 1000} s`
          : `Could not reach the CFP runtime at ${this.target.url} (${code ?? messageOf(cause)})`,
        { action: 'Check that `cfp dev` is running (or that CFP_URL is right).', cause },
      )
    }
    const text = await res.text()
    let parsed: unknown
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
    }
    if (!res.ok) {
      if (isRuntimeError(parsed)) {
        const { code, message } = parsed.error
        throw new CliError(`${message}${code ? ` [${code}]` : ''}`, {
          explanation: `The runtime answered ${res.status} to ${method} ${path}.`,
          action: hintFor(res.status),
        })
      }
      throw new CliError(`The runtime answered ${res.status} ${res.statusText} to ${method} ${path}`, {
        explanation: text ? `Body: ${text.slice(0, 300)}` : undefined,
        action: hintFor(res.status),
      })
    }
    if (text.length > 0 && parsed === undefined) {
      throw new CliError(`The runtime answered ${method} ${path} with a body that is not JSON`, {
        explanation: `Body: ${text.slice(0, 300)}`,
        action: 'Check that CFP_URL points at a CFP runtime.',
      })
    }
    return parsed as T
  }
}

function hintFor(status: number): string | undefined {
  if (status === 401 || status === 403) {
    return 'The admin token was refused: restart `cfp dev` (it writes a fresh .cfp/dev.json) or check CFP_TOKEN.'
  }
  if (status === 404) return 'Check the id or name you passed; dev endpoints also need a runtime started by `cfp dev`.'
  return undefined
}
