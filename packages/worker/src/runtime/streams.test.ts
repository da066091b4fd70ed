import { describe, expect, it } from 'vitest'
import { createStreams } from './streams.js'

type Call = { method: string; params: Record<string, unknown> }

function fakeRuntime(answers: Record<string, unknown>) {
  const calls: Call[] = []
  const call = async (method: string, params: Record<string, unknown>) => {
    calls.push({ method, params })
    return answers[method] ?? null
  }
  return { calls, call }
}

describe('ctx.streams', () => {
  it("maps Motia's stream API onto streams.* calls and marks items as Motia does", async () => {
    const rt = fakeRuntime({
      'streams.set': { id: 't1', title: 'milk' },
      'streams.get': { id: 't1', title: 'milk' },
      'streams.getGroup': [{ id: 't1', title: 'milk' }],
    })
    const streams = createStreams(rt.call, () => ['todo']) as Record<string, any>
    const marker = { type: 'state-stream', streamName: 'todo', groupId: 'inbox', id: 't1' }

    expect(await streams.todo.set('inbox', 't1', { title: 'milk', __motia: { stale: true } })).toEqual({ id: 't1', title: 'milk', __motia: marker })
    expect(await streams.todo.get('inbox', 't1')).toEqual({ id: 't1', title: 'milk', __motia: marker })
    expect(await streams.todo.getGroup('inbox')).toEqual([{ id: 't1', title: 'milk', __motia: marker }])
    expect(await streams.todo.delete('inbox', 'gone')).toBeNull()
    await streams.todo.send({ groupId: 'inbox' }, { type: 'typing', data: { who: 'ann' } })
    await streams.todo.send({ groupId: 'inbox', id: 't1' }, { type: 'ping', data: null })

    expect(rt.calls).toEqual([
      { method: 'streams.set', params: { stream: 'todo', groupId: 'inbox', id: 't1', data: { title: 'milk' } } },
      { method: 'streams.get', params: { stream: 'todo', groupId: 'inbox', id: 't1' } },
      { method: 'streams.getGroup', params: { stream: 'todo', groupId: 'inbox' } },
      { method: 'streams.delete', params: { stream: 'todo', groupId: 'inbox', id: 'gone' } },
      { method: 'streams.send', params: { stream: 'todo', groupId: 'inbox', event: { type: 'typing', data: { who: 'ann' } } } },
      { method: 'streams.send', params: { stream: 'todo', groupId: 'inbox', id: 't1', event: { type: 'ping', data: null } } },
    ])
  })

  it('lists the loaded streams and is not mistaken for a promise', async () => {
    const streams = createStreams(fakeRuntime({}).call, () => ['chat', 'todo'])
    expect(Object.keys(streams)).toEqual(['chat', 'todo'])
    expect('todo' in streams).toBe(true)
    expect(await Promise.resolve(streams)).toBe(streams)
  })

  it('passes the runtime error of an unknown stream through', async () => {
    const call = async () => {
      throw new Error("streams.get: unknown stream `todos`; this project's streams: todo")
    }
    const streams = createStreams(call) as Record<string, any>
    await expect(streams.todos.get('g', '1')).rejects.toThrow(/streams: todo/)
  })
})
