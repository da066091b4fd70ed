/**
 * @cfp/worker — runs a project's Motia-style step files against the CFP runtime.
 *
 * - `loadProject(dir)`: discover, import (TypeScript, CommonJS or ESM, `import … from 'motia'`) and validate
 *   step and stream files; returns manifests, handlers and per-file errors (used by `cfp generate-types`).
 * - `startWorker(options)`: connect to the runtime's worker endpoint and serve invocations (docs/protocol.md).
 * - `parseFrame(text)`: validate a frame received from the runtime.
 *
 * @example
 * import { loadProject, startWorker } from '@cfp/worker'
 * const { steps, errors } = await loadProject('./my-project')
 * const worker = await startWorker({ dir: './my-project', url: 'ws://127.0.0.1:3111/__cfp/worker', token, watch: true })
 * process.on('SIGTERM', () => void worker.stop())
 */
export { discoverFiles, isStepFile, isStreamFile, isUiStepFile } from './loader/discover.js'
export { loadProject, type LoadedStep, type LoadedStream, type LoadError, type LoadErrorCode, type LoadResult } from './loader/load.js'
export { FrameError, parseFrame, validateRuntimeFrame, validateWorkerFrame } from './frames.js'
export type * from './frame-types.js'
export { PROTOCOL_VERSION } from './frame-types.js'
export { startWorker, type RegisteredInfo, type WorkerExit, type WorkerHandle, type WorkerOptions } from './runtime/worker.js'
export { FAILURE_PREFIX, failureLine } from './runtime/invoke.js'
