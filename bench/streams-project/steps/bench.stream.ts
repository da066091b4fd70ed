import type { StreamConfig } from 'motia'

// The stream every benchmark client subscribes to (group 'all'); no canAccess, so joins need no worker call.
export const config: StreamConfig = {
  name: 'bench',
  schema: { type: 'object', properties: { n: { type: 'number' }, t0: { type: 'number' } } },
  baseConfig: { storageType: 'default' },
}
