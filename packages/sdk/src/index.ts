/**
 * @cfp/sdk — what CFP step projects and the CFP worker share.
 *
 * - types of the classic Motia step API (`ApiRouteConfig`, `EventConfig`, `FlowContext`, `Handlers`, ...)
 * - `NonRetriableError`, `RetryAfterError` and `classifyError`
 * - `validateStepConfig(config, file)`: strict config validation with errors naming the file and key
 * - `toJsonSchema(schema)`: zod 3, zod 4 or JSON Schema to JSON Schema
 * - `normalizeEmit`, `Logger`
 * - `@cfp/sdk/motia`: the module that `import … from 'motia'` resolves to inside a CFP worker
 *
 * @example
 * import { validateStepConfig } from '@cfp/sdk'
 * const r = validateStepConfig({ type: 'api', name: 'A', path: '/a', method: 'FETCH', emits: [] }, 'steps/a.step.ts')
 * if (!r.ok) console.error(r.errors.map((e) => e.message).join('\n'))
 * // steps/a.step.ts: config.method: 'FETCH' is not an HTTP method; use one of GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD
 */
export type * from './types.js'
export type * from './stream-types.js'
export type * from './plugin-types.js'
export { API_METHODS, STEP_TYPES, validateStepConfig, type ConfigError, type ValidateStepConfigResult } from './config.js'
export { cronExpressionProblem } from './cron.js'
export { EmitError, emitTopics, normalizeEmit, type EmitMessage } from './emit.js'
export { classifyError, NonRetriableError, RetryAfterError, type ClassifiedError } from './errors.js'
export { consoleSink, formatLogLine, globalLogger, levelEnabled, Logger, logData, toLogLevel } from './logger.js'
export type { LogLevel, LogRecord, LogSink } from './logger.js'
export {
  isZod3Schema,
  isZod4Schema,
  SchemaConversionError,
  toJsonSchema,
  type SchemaIo,
  type ToJsonSchemaOptions,
  type Zod4ToJsonSchema,
} from './schema.js'
export { STOCK_PLUGINS, stockPlugin, type StockPlugin, type StockWorkbenchPlugin } from './stock/stock.js'
