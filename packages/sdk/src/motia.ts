/**
 * The module step files get when they `import … from 'motia'` (the worker maps the specifier `motia` here;
 * package export `@cfp/sdk/motia`).
 *
 * Step files mostly import types, which are erased; the values classic Motia step files use at run time are
 * `globalLogger`, `Logger`, `config` (motia.config.ts) and the step guards. CFP adds `NonRetriableError` and
 * `RetryAfterError`. `Handlers` and `FlowContextStateStreams` are interfaces that a generated `types.d.ts`
 * augments with `declare module 'motia' { interface Handlers { … } }`.
 *
 * @example
 * import type { ApiRouteConfig, Handlers } from 'motia'
 * export const config: ApiRouteConfig = { type: 'api', name: 'Hello', path: '/hello', method: 'GET', emits: [] }
 * export const handler: Handlers['Hello'] = async (req, { logger }) => ({ status: 200, body: { ok: true } })
 */
import type { Config } from './plugin-types.js'
import type { ApiRouteConfig, CronConfig, EventConfig, NoopConfig, Step } from './types.js'

export type * from './types.js'
export type * from './stream-types.js'
export type * from './plugin-types.js'
export { NonRetriableError, RetryAfterError } from './errors.js'
export { Logger, globalLogger, type LogLevel, type LogRecord, type LogSink } from './logger.js'

/** Motia's `config()` helper for `motia.config.ts` (CFP's worker reads its `plugins`; see docs/runtime-api.md). */
export const config = <T extends Config>(appConfig: T): T => appConfig
export { config as defineConfig }

export const isApiStep = (step: Step): step is Step<ApiRouteConfig> => step.config.type === 'api'
export const isEventStep = (step: Step): step is Step<EventConfig> => step.config.type === 'event'
export const isNoopStep = (step: Step): step is Step<NoopConfig> => step.config.type === 'noop'
export const isCronStep = (step: Step): step is Step<CronConfig> => step.config.type === 'cron'
