/**
 * TypeScript types of the worker protocol frames (docs/protocol.md, version 2): generated from
 * `protocol/schema/worker-frames.schema.json` into `protocol-types.gen.ts` (see `gen/schema-to-ts.ts`).
 */
import type { ResultFrame, StepManifest } from './protocol-types.gen.js'

export type * from './protocol-types.gen.js'

export const PROTOCOL_VERSION = 2

export type StepType = StepManifest['type']
export type ResultError = NonNullable<ResultFrame['error']>
