import { fileURLToPath } from 'node:url'
import type { FlowContext, InternalStateManager } from '@cfp/sdk'
import { describe, expect, it } from 'vitest'
import { loadProject } from '../loader/load.js'
import { pluginLoad } from './load.js'

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url))

function memoryState(): InternalStateManager & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>()
  return {
    data,
    get: async (g, k) => (data.get(`${g}:${k}`) ?? null) as never,
    set: async (g, k, v) => {
      data.set(`${g}:${k}`, v)
      return v
    },
    delete: async () => null,
    getGroup: async () => [],
    clear: async () => {},
  }
}

describe('motia.config.ts (ESM, defineConfig from @motiadev/core, stock plugins by their Motia names)', async () => {
  const r = await loadProject(fixture('plugins-esm'))
  const names = r.steps.map((s) => s.manifest.name)

  it("turns the plugin's registerApi routes into API steps named after the plugin, in the _plugin flow", () => {
    expect(names.sort()).toEqual(['Ping', 'plugin testerPlugin: GET /__motia/tester/health', 'plugin testerPlugin: POST /__motia/tester/items/:id'])
    const health = r.steps.find((s) => s.manifest.path === '/__motia/tester/health')
    expect(health?.manifest).toEqual({
      name: 'plugin testerPlugin: GET /__motia/tester/health',
      type: 'api',
      file: 'plugins/tester.ts',
      flows: ['_plugin'],
      path: '/__motia/tester/health',
      method: 'GET',
      emits: [],
    })
  })

  it("keeps every plugin's tabs, stock plugins marked as CFP's built-in views", () => {
    expect(r.plugins?.map((p) => p.name)).toEqual(['@motiadev/plugin-states', '@motiadev/plugin-endpoint', 'testerPlugin'])
    expect(r.plugins?.[0]?.workbench).toEqual([
      { packageName: '@motiadev/plugin-states', label: 'States', position: 'bottom', componentName: 'StatesPage', labelIcon: 'file', cfpBuiltin: 'states' },
    ])
    expect(r.plugins?.[2]).toMatchObject({ file: 'plugins/tester.ts', workbench: [{ label: 'Tester', componentName: 'TesterPanel' }] })
  })

  it('reports a plugin that throws with its file; its routes are not registered, the rest loads', () => {
    const broken = r.errors.find((e) => e.file === 'plugins/broken.ts')
    expect(broken).toMatchObject({ code: 'load_failed', key: 'plugins[2]' })
    expect(broken?.message).toContain('the broken plugin cannot start')
    expect(broken?.message).toContain('motia.config.ts plugins[2]')
    expect(names.some((n) => n.includes('broken'))).toBe(false)
    expect(r.errors.find((e) => e.key === 'plugins[4]')?.message).toBe(
      'motia.config.ts: plugins[4]: must be a plugin function (motia) => ({ workbench: [...] }), got number 42',
    )
    expect(r.errors).toHaveLength(2)
  })

  it("gives the route's handler motia.state = the invocation's state", async () => {
    const step = r.steps.find((s) => s.manifest.path === '/__motia/tester/items/:id')
    const state = memoryState()
    const ctx = { state } as unknown as FlowContext<unknown>
    const handler = step?.handler as ((req: unknown, ctx: unknown) => Promise<unknown>) | undefined
    if (!handler) throw new Error('no handler')
    const out = await handler({ pathParams: { id: 'a' }, body: { n: 1 } }, ctx)
    expect(out).toEqual({ status: 200, body: { stored: { n: 1 } } })
    expect(state.data.get('items:a')).toEqual({ n: 1 })
  })
})

describe('a plugin that throws while its module loads', async () => {
  const r = await loadProject(fixture('plugins-import-throws'))
  it('is reported with the file that threw; the steps still load', () => {
    expect(r.steps.map((s) => s.manifest.name)).toEqual(['Ping'])
    expect(r.errors).toHaveLength(1)
    expect(r.errors[0]).toMatchObject({ file: 'plugins/explodes.mjs', code: 'load_failed' })
    expect(r.errors[0]?.message).toMatch(/^motia\.config\.mjs: failed to load \(thrown in plugins\/explodes\.mjs line 5\): TypeError: /)
  })
})

describe('a malformed motia.config.js (CommonJS)', async () => {
  const r = await loadProject(fixture('plugins-malformed'))
  it('names the file and key of each problem; the steps still load', () => {
    expect(r.steps.map((s) => s.manifest.name)).toEqual(['Ping'])
    const byKey = Object.fromEntries(r.errors.map((e) => [e.key, e.message]))
    expect(Object.keys(byKey).sort()).toEqual([
      'plugins[0].workbench[0].position',
      'plugins[1].workbench[0].packageName',
      'plugins[2].steps',
      'plugins[3].registerApi("/__motia/bad")',
      'plugins[4].registerApi("/__cfp/api/steps")',
      'plugins[5]',
      'pluginz',
    ])
    expect(byKey['plugins[4].registerApi("/__cfp/api/steps")']).toContain("paths under /__cfp are the runtime's own")
    expect(byKey['plugins[5]']).toContain('more than 256 routes')
    expect(byKey.pluginz).toBe("motia.config.js: pluginz: unknown key 'pluginz'; a Motia config has plugins, app, adapters, streamAuth, redis")
    expect(byKey['plugins[0].workbench[0].position']).toContain("must be 'top' or 'bottom'")
    expect(byKey['plugins[3].registerApi("/__motia/bad")']).toContain('method')
    for (const e of r.errors) expect(e.file).toBe('motia.config.js')
    expect(r.plugins).toEqual([])
  })
})

describe('an async plugin that never resolves', () => {
  it('is cut off after pluginLoad.timeoutMs and reported; the rest loads', async () => {
    const before = pluginLoad.timeoutMs
    pluginLoad.timeoutMs = 200
    try {
      const started = Date.now()
      const r = await loadProject(fixture('plugins-hang'))
      expect(Date.now() - started).toBeLessThan(5000)
      expect(r.steps.map((s) => s.manifest.name)).toEqual(['Ping'])
      expect(r.plugins).toHaveLength(1)
      expect(r.errors).toHaveLength(1)
      expect(r.errors[0]?.message).toContain('plugin neverLoads did not finish loading within 200 ms')
    } finally {
      pluginLoad.timeoutMs = before
    }
  })
})
