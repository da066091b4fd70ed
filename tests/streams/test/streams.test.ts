/**
 * Streams end to end: the real cfp-runtime and cfp-worker on a fixture project with a `*.stream.ts` (with
 * canAccess), and Motia's own client `@motiadev/stream-client-node`, unchanged, on the runtime's port.
 */
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Stream } from '@motiadev/stream-client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ADMIN, api, CLI_MAIN, copyFixture, missingPrerequisite, REPO, type Runtime, startRuntime, startWorker, type Worker } from '../src/harness.js'

type Todo = { id: string; title: string; done: boolean }
type ErrorData = { code: string; message: string }

// A missing build is a failure, not a skip: a suite that silently skips cannot catch anything.
const missing = missingPrerequisite()
if (missing) throw new Error(`streams tests cannot run: ${missing}`)

/** A raw client speaking Motia's protocol, recording what it receives. */
async function rawClient(url: string, protocols?: string[]): Promise<{ ws: WebSocket; received: any[] }> {
  const ws = new WebSocket(url, protocols)
  const received: any[] = []
  ws.on('message', (d) => received.push(JSON.parse(d.toString())))
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok())
    ws.once('error', fail)
  })
  return { ws, received }
}

/** The status of a refused upgrade. */
function refusedWith(url: string): Promise<number> {
  return new Promise((done, fail) => {
    const ws = new WebSocket(url)
    ws.once('unexpected-response', (req, res) => {
      done(res.statusCode ?? 0)
      req.destroy()
    })
    ws.once('error', () => undefined)
    ws.once('open', () => fail(new Error('the upgrade was accepted')))
  })
}

describe('streams with the real runtime, worker and Motia client', () => {
  let rt: Runtime
  let worker: Worker
  let project: { dir: string; cleanup: () => void }
  let stream: Stream
  const clients: WebSocket[] = []

  beforeAll(async () => {
    project = copyFixture('todo-app')
    rt = await startRuntime()
    worker = await startWorker(rt, project.dir)
    // Motia's clients send a token as the subprotocols `Authorization, <token>`
    stream = new Stream(rt.ws, { protocols: ['Authorization', ADMIN] })
  })

  afterAll(async () => {
    stream?.close()
    for (const c of clients) c.terminate()
    await worker?.stop()
    await rt?.stop()
    project?.cleanup()
  })

  it('syncs, then delivers create, update, custom events and delete to item and group subscribers', async () => {
    const group = stream.subscribeGroup<Todo>('todo', 'inbox')
    const item = stream.subscribeItem<Todo>('todo', 'inbox', 't1')
    const sameIdOtherGroup = stream.subscribeItem<Todo>('todo', 'archive', 't1')
    const groupStates: Todo[][] = []
    const itemStates: (Todo | null)[] = []
    group.addChangeListener((s) => groupStates.push(structuredClone(s ?? [])))
    item.addChangeListener((s) => itemStates.push(s && structuredClone(s)))
    const otherStates: (Todo | null)[] = []
    sameIdOtherGroup.addChangeListener((s) => otherStates.push(s))
    const typing: unknown[] = []
    item.onEvent('typing', (d) => typing.push(d))
    const groupEvents: unknown[] = []
    group.onEvent('announcement', (d) => groupEvents.push(d))

    // joined: the group syncs as [] and the absent item as null
    await expect.poll(() => groupStates.length).toBe(1)
    expect(groupStates[0]).toEqual([])
    await expect.poll(() => itemStates.length).toBe(1)
    expect(itemStates[0]).toBeNull()

    const created = await api(rt, 'PUT', '/todos/inbox/t1', { title: 'milk', done: false })
    expect(created).toEqual({
      status: 200,
      body: {
        id: 't1',
        title: 'milk',
        done: false,
        _createdAt: expect.any(Number),
        __motia: { type: 'state-stream', streamName: 'todo', groupId: 'inbox', id: 't1' },
      },
    })
    await expect.poll(() => group.getState()).toEqual([{ id: 't1', title: 'milk', done: false, _createdAt: created.body._createdAt }])
    await expect.poll(() => item.getState()).toEqual({ id: 't1', title: 'milk', done: false, _createdAt: created.body._createdAt })

    await api(rt, 'PUT', '/todos/inbox/t1', { title: 'milk', done: true })
    await api(rt, 'PUT', '/todos/inbox/t2', { title: 'eggs', done: false })
    await expect.poll(() => item.getState()?.done).toBe(true)
    await expect.poll(() => group.getState().map((t) => `${t.id}:${t.done}`)).toEqual(['t1:true', 't2:false'])

    const listed = await api(rt, 'GET', '/todos/inbox')
    expect(listed.body.items.map((t: Todo) => t.id)).toEqual(['t1', 't2'])
    expect(listed.body.first).toMatchObject({ id: 't1', __motia: { streamName: 'todo', groupId: 'inbox', id: 't1' } })

    expect((await api(rt, 'POST', '/todos/inbox/events', { id: 't1', type: 'typing', data: { who: 'ann' } })).status).toBe(202)
    expect((await api(rt, 'POST', '/todos/inbox/events', { type: 'announcement', data: 'hello group' })).status).toBe(202)
    await expect.poll(() => typing).toEqual([{ who: 'ann' }])
    await expect.poll(() => groupEvents).toEqual(['hello group'])

    const deleted = await api(rt, 'DELETE', '/todos/inbox/t1')
    expect(deleted.body.deleted).toMatchObject({ id: 't1', title: 'milk' })
    await expect.poll(() => item.getState()).toBeNull()
    await expect.poll(() => group.getState().map((t) => t.id)).toEqual(['t2'])

    // the item of the same id in another group never heard of any of it (Motia mixes such items)
    expect(otherStates).toEqual([null])
    await api(rt, 'PUT', '/todos/archive/t1', { title: 'old', done: true })
    await expect.poll(() => sameIdOtherGroup.getState()?.title).toBe('old')
    expect(item.getState()).toBeNull()

    group.close()
    item.close()
    sameIdOtherGroup.close()
  })

  it("refuses what the stream's canAccess refuses, with Motia's STREAM_ACCESS_DENIED event", async () => {
    const forbidden = stream.subscribeGroup<Todo>('todo', 'forbidden')
    const errors: ErrorData[] = []
    forbidden.onEvent('error', (d) => errors.push(d as ErrorData))
    await expect.poll(() => errors).toEqual([{ code: 'STREAM_ACCESS_DENIED', message: 'Access denied' }])
    await api(rt, 'PUT', '/todos/forbidden/x', { title: 'secret', done: false })
    await new Promise((r) => setTimeout(r, 300))
    expect(forbidden.getState()).toEqual([])
    forbidden.close()
  })

  it('answers an unknown stream name with an error naming the known streams (clients and ctx.streams)', async () => {
    const typo = stream.subscribeGroup('todos', 'inbox')
    const errors: ErrorData[] = []
    typo.onEvent('error', (d) => errors.push(d as ErrorData))
    await expect.poll(() => errors.length).toBe(1)
    expect(errors[0]).toEqual({ code: 'STREAM_NOT_FOUND', message: "unknown stream `todos`; this project's streams: todo" })
    typo.close()

    const r = await api(rt, 'GET', '/wrong-stream')
    expect(r.status).toBe(400)
    expect(r.body.error).toContain("unknown stream `todos`; this project's streams: todo")
  })

  it('answers malformed frames with an error and keeps serving every other client', async () => {
    const bad = await rawClient(rt.ws, ['Authorization', ADMIN])
    clients.push(bad.ws)
    const good = stream.subscribeGroup<Todo>('todo', 'malformed')
    const seen: Todo[][] = []
    good.addChangeListener((s) => seen.push(s ?? []))
    await expect.poll(() => seen.length).toBe(1)

    for (const frame of ['{not json', '[]', '{"type":"join"}', '{"type":"join","data":{"streamName":"todo"}}', '{"type":"dance","data":{}}']) {
      bad.ws.send(frame)
    }
    bad.ws.send(Buffer.from([0xff, 0xfe]))
    await expect.poll(() => bad.received.length).toBe(6)
    for (const m of bad.received) expect(m.event.event).toMatchObject({ type: 'error', data: { code: 'BAD_MESSAGE' } })

    await api(rt, 'PUT', '/todos/malformed/m1', { title: 'still here', done: false })
    await expect.poll(() => good.getState().map((t) => t.title)).toEqual(['still here'])
    // the connection that sent garbage still works too
    bad.ws.send(JSON.stringify({ type: 'join', data: { streamName: 'todo', groupId: 'malformed', subscriptionId: 's' } }))
    await expect
      .poll(() => bad.received.at(-1)?.event)
      .toEqual({ type: 'sync', data: [{ id: 'm1', title: 'still here', done: false, _createdAt: expect.any(Number) }] })
    good.close()
  })

  it('authenticates clients: a token (subprotocol, ?token= or bearer header) outside dev mode', async () => {
    expect(await refusedWith(rt.ws)).toBe(401)
    expect(await refusedWith(`${rt.ws}?token=wrong`)).toBe(401)
    const viaQuery = await rawClient(`${rt.ws}?token=${ADMIN}`)
    clients.push(viaQuery.ws)
    expect(viaQuery.ws.protocol).toBe('')
    const viaProtocol = await rawClient(rt.ws, ['Authorization', ADMIN])
    clients.push(viaProtocol.ws)
    expect(viaProtocol.ws.protocol).toBe('Authorization')
    // a plain GET / is not the websocket
    const plain = await fetch(`${rt.http}/`, { headers: { authorization: `Bearer ${ADMIN}` }, redirect: 'manual' })
    expect(plain.status).not.toBe(101)
  })

  it('lists streams and groups in the runtime API', async () => {
    const res = await fetch(`${rt.http}/__cfp/api/streams`, { headers: { authorization: `Bearer ${ADMIN}` } })
    const body = (await res.json()) as { streams: { name: string; hasCanAccess: boolean; groups: { groupId: string; items: number }[] }[] }
    expect(body.streams.map((s) => s.name)).toEqual(['todo'])
    expect(body.streams[0]?.hasCanAccess).toBe(true)
    expect(body.streams[0]?.groups).toContainEqual({ groupId: 'inbox', items: 1 })
    const group = await fetch(`${rt.http}/__cfp/api/streams/todo/inbox`, { headers: { authorization: `Bearer ${ADMIN}` } })
    expect(await group.json()).toEqual({ items: [{ id: 't2', title: 'eggs', done: false, _createdAt: expect.any(Number) }] })
  })

  it('types ctx.streams through cfp generate-types', () => {
    const copy = copyFixture('todo-app')
    try {
      const gen = spawnSync(process.execPath, [CLI_MAIN, 'generate-types', '--dir', copy.dir], { encoding: 'utf8' })
      expect(gen.status, gen.stderr).toBe(0)
      const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc')
      const ok = spawnSync(process.execPath, [tsc, '-p', copy.dir], { encoding: 'utf8' })
      expect(ok.status, ok.stdout).toBe(0)
      // a wrong item type is a compile error
      writeFileSync(
        join(copy.dir, 'steps', 'bad.step.ts'),
        `import type { Handlers } from 'motia'\nexport const handler: Handlers['UpsertTodo'] = async (_req, { streams }) => {\n  await streams.todo.set('g', '1', { id: '1', title: 42, done: false })\n  return { status: 200, body: {} }\n}\n`,
      )
      const bad = spawnSync(process.execPath, [tsc, '-p', copy.dir], { encoding: 'utf8' })
      expect(bad.status).not.toBe(0)
      expect(bad.stdout).toMatch(/bad\.step\.ts\(3,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/)
    } finally {
      copy.cleanup()
    }
  })
})

describe('streams in dev mode', () => {
  it('lets loopback clients in without a token', async () => {
    const rt = await startRuntime({ dev: true })
    try {
      const { ws, received } = await rawClient(rt.ws)
      ws.send(JSON.stringify({ type: 'join', data: { streamName: 'todo', groupId: 'g', subscriptionId: 's' } }))
      // no worker registered a stream here: a clear error, not a silent subscription
      await expect.poll(() => received[0]?.event?.event?.data?.code).toBe('STREAM_NOT_FOUND')
      expect(received[0].event.event.data.message).toContain('this project has no streams')
      ws.terminate()
    } finally {
      await rt.stop()
    }
  })
})
