/**
 * `ctx.streams.<name>`: Motia's `MotiaStream` API over the worker RPC (`streams.get|set|delete|getGroup|send`,
 * docs/protocol.md). The runtime stores the items, tells subscribed clients, and answers an unknown stream name
 * with an error naming the project's streams.
 *
 * As in Motia, items come back as `{ ...data, id }` with a `__motia: { type: 'state-stream', streamName,
 * groupId, id }` marker (an API step that returns an item lets the workbench follow it); the marker is never
 * stored.
 *
 * @example
 * await ctx.streams.todo.set('inbox', 't1', { title: 'milk' }) // clients of group 'inbox' get `create`
 * await ctx.streams.todo.send({ groupId: 'inbox' }, { type: 'typing', data: { who: 'ann' } })
 */
import type { BaseStreamItem, FlowContextStateStreams, MotiaStream, StateStreamEvent, StateStreamEventChannel } from '@cfp/sdk'

export type StreamCall = (method: string, params: Record<string, unknown>) => Promise<unknown>

type Item = BaseStreamItem<Record<string, unknown>>

function mark(streamName: string, groupId: string, item: unknown): Item | null {
  if (item === null || item === undefined || typeof item !== 'object') return null
  const id = (item as { id?: unknown }).id
  return { ...(item as Item), __motia: { type: 'state-stream', streamName, groupId, id } }
}

function unmarked(data: unknown): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data) || !('__motia' in data)) return data
  const { __motia: _, ...rest } = data as Record<string, unknown>
  return rest
}

function streamOf(name: string, call: StreamCall): MotiaStream<unknown> {
  const stream = name
  return {
    async get(groupId: string, id: string) {
      return mark(stream, groupId, await call('streams.get', { stream, groupId, id })) as never
    },
    async set(groupId: string, id: string, data: unknown) {
      if (data === null || data === undefined) return null as never
      return mark(stream, groupId, await call('streams.set', { stream, groupId, id, data: unmarked(data) })) as never
    },
    async delete(groupId: string, id: string) {
      return mark(stream, groupId, await call('streams.delete', { stream, groupId, id })) as never
    },
    async getGroup(groupId: string) {
      const items = (await call('streams.getGroup', { stream, groupId })) as unknown[]
      return items.map((i) => mark(stream, groupId, i)) as never
    },
    async send<T>(channel: StateStreamEventChannel, event: StateStreamEvent<T>) {
      const params: Record<string, unknown> = { stream, groupId: channel.groupId, event: { type: event.type, data: event.data } }
      if (channel.id !== undefined) params.id = channel.id
      await call('streams.send', params)
    },
  }
}

/** `ctx.streams`: `ctx.streams.<name>` for any name (the runtime decides whether it exists); `names` lists the
 * project's loaded streams for `Object.keys(ctx.streams)`. */
export function createStreams(call: StreamCall, names: () => string[] = () => []): FlowContextStateStreams {
  const cache = new Map<string, MotiaStream<unknown>>()
  const get = (name: string) => {
    let s = cache.get(name)
    if (!s) cache.set(name, (s = streamOf(name, call)))
    return s
  }
  return new Proxy({} as FlowContextStateStreams, {
    get(_t, prop) {
      // not a stream: symbols, and what promise/JSON/inspection machinery probes for
      if (typeof prop === 'symbol' || prop === 'then' || prop === 'toJSON') return undefined
      return get(prop)
    },
    has: (_t, prop) => typeof prop === 'string' && names().includes(prop),
    ownKeys: () => names(),
    getOwnPropertyDescriptor: (_t, prop) =>
      typeof prop === 'string' && names().includes(prop) ? { enumerable: true, configurable: true, value: get(prop) } : undefined,
  })
}
