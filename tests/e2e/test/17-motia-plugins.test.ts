/**
 * examples/motia-plugins under `cfp dev`: a CommonJS `motia.config.js` `require`s Motia's stock plugins and an app
 * plugin. The plugin's `registerApi` routes are served like API steps (`/__motia/todo-tester/health`, and a route
 * reading state through `motia.state`); `GET /__motia/state?groupId=` answers what Motia's plugin-states answers
 * (`[{groupId, key, type, value}]`), with its `filter`; the `/__motia/` routes refuse end users and anonymous
 * callers like the runtime's diagnostic endpoints.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useDevProject } from '../src/dev-server.js'
import { EXAMPLES } from '../src/env.js'

describe('examples/motia-plugins (CommonJS motia.config.js, required plugins)', () => {
  const dev = useDevProject({ source: join(EXAMPLES, 'motia-plugins'), args: [] })

  it("registers the app plugin's routes as API steps of the _plugin flow, beside the project's steps", async () => {
    const res = await dev.server.fetch('/__cfp/api/steps')
    expect(res.status).toBe(200)
    const steps = res.json.steps as Array<{ name: string; file: string; path?: string; flows?: string[] }>
    expect(steps.map((s) => s.name).sort()).toEqual([
      'CreateTodo',
      'plugin todoTesterPlugin: GET /__motia/todo-tester/count',
      'plugin todoTesterPlugin: GET /__motia/todo-tester/health',
    ])
    const health = steps.find((s) => s.path === '/__motia/todo-tester/health')
    expect(health).toMatchObject({ file: 'plugins/todo-tester/index.js', flows: ['_plugin'] })
  })

  it("serves the plugin's own route", async () => {
    const res = await dev.server.fetch('/__motia/todo-tester/health')
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ status: 'healthy', message: 'Todo Tester Plugin is running' })
  })

  it('GET /__motia/state?groupId= returns the items as Motia plugin-states does; motia.state reads them in a plugin route', async () => {
    for (const [id, title] of [
      ['t1', 'Write docs'],
      ['t2', 'Ship it'],
    ]) {
      const created = await dev.server.fetch('/todos', { method: 'POST', json: { id, title } })
      expect(created.status).toBe(201)
    }
    const res = await dev.server.fetch('/__motia/state?groupId=todos')
    expect(res.status).toBe(200)
    expect(res.json).toEqual([
      { groupId: 'todos', key: 't1', type: 'object', value: { id: 't1', title: 'Write docs', done: false } },
      { groupId: 'todos', key: 't2', type: 'object', value: { id: 't2', title: 'Ship it', done: false } },
    ])
    const filter = encodeURIComponent(JSON.stringify([{ valueKey: 'title', operation: 'startsWith', value: 'Ship' }]))
    const filtered = await dev.server.fetch(`/__motia/state?groupId=todos&filter=${filter}`)
    expect((filtered.json as Array<{ key: string }>).map((i) => i.key)).toEqual(['t2'])
    const other = await dev.server.fetch('/__motia/state?groupId=nothing-here')
    expect(other.json).toEqual([])

    const count = await dev.server.fetch('/__motia/todo-tester/count')
    expect(count.status).toBe(200)
    expect(count.json).toEqual({ count: 2 })
  })

  it('POST /__motia/state and /__motia/state/delete edit state as plugin-states does', async () => {
    const set = await dev.server.fetch('/__motia/state', { method: 'POST', json: { groupId: 'notes', key: 'n1', value: { text: 'hi' } } })
    expect(set.status).toBe(200)
    expect(set.json).toEqual({ key: 'n1', groupId: 'notes', value: { text: 'hi' } })
    expect(await dev.db.state('notes', 'n1')).toEqual({ text: 'hi' })
    const del = await dev.server.fetch('/__motia/state/delete', { method: 'POST', json: { ids: ['notes:n1'] } })
    expect(del.status).toBe(204)
    expect(await dev.db.state('notes', 'n1')).toBeUndefined()
  })

  it('refuses /__motia/ routes to a web page of another origin like the runtime API', async () => {
    const foreign = await dev.server.fetch('/__motia/state?groupId=todos', { headers: { origin: 'https://evil.example' } })
    expect(foreign.status).toBe(401)
    const plugin = await dev.server.fetch('/__motia/todo-tester/health', { headers: { origin: 'https://evil.example' } })
    expect(plugin.status).toBe(401)
  })
})
