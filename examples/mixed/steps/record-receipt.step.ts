import { createHash } from 'node:crypto'
import type { EventConfig, Handlers } from 'motia'
import { z } from 'zod'

export const config: EventConfig = {
  type: 'event',
  name: 'RecordReceipt',
  description: 'Writes the receipt (TypeScript) from what the Python step priced',
  subscribes: ['order.priced'],
  emits: [],
  input: z.object({ id: z.string(), total: z.number(), note: z.string(), noteSha256: z.string(), attempt: z.number() }),
  flows: ['orders'],
}

export const handler: Handlers['RecordReceipt'] = async (input, { logger, state, streams }) => {
  // the note travelled TS -> Python -> TS: check it arrived intact
  const noteIntact = createHash('sha256').update(input.note).digest('hex') === input.noteSha256
  // state and the stream item the Python step wrote
  const priced = await state.get<{ total: number }>('orders', input.id)
  const status = await streams.orderStatus.get('orders', input.id)
  await streams.orderStatus.set('orders', input.id, { status: 'receipted', total: input.total })
  // the receipt last: once it exists, everything this step writes is there
  await state.set('receipts', input.id, {
    id: input.id,
    total: input.total,
    pricedTotal: priced?.total ?? null,
    statusSeen: status?.status ?? null,
    noteIntact,
  })
  logger.info('Receipt recorded', { id: input.id, total: input.total, noteIntact })
}
