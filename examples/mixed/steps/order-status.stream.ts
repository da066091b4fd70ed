import type { StreamConfig } from 'motia'
import { z } from 'zod'

// Written by the Python step (priced) and the TypeScript step (receipted); clients follow it live.
export const config: StreamConfig = {
  name: 'orderStatus',
  schema: z.object({ status: z.string(), total: z.number() }),
  baseConfig: { storageType: 'default' },
}
