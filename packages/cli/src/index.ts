/**
 * `@cfp/cli` as a library: the pieces behind the `cfp` command, for tests and tools.
 *
 * @example
 * import { generateTypes, jsonSchemaToTs } from '@cfp/cli'
 * const { text } = generateTypes(manifests, streams)
 */
export { generateTypes, type StepManifestLike, type StreamManifestLike } from './types/generate.js'
export { jsonSchemaToTs } from './types/json-schema-to-ts.js'
export { resolveRuntimeBinary } from './dev/runtime-bin.js'
export { DevSession, type DevOptions, parseReadyLine } from './commands/dev.js'
export { readDevFile, resolveTarget, writeDevFile, type DevFile } from './util/dev-file.js'
export { CliError } from './util/errors.js'
