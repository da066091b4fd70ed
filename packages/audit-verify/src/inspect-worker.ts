// A worker thread of inspectInWorkers: inspects batches of stored entries.
import { parentPort } from 'node:worker_threads'
import { inspect } from './inspect.js'

parentPort?.on('message', (m: { id: number; batch: unknown[]; canonical: boolean }) => {
  parentPort!.postMessage({ id: m.id, items: m.batch.map((e) => inspect(e, m.canonical)) })
})
