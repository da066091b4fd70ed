import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { isStepFile, isUiStepFile } from './discover.js'
import { loadProject } from './load.js'

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url))

describe('loadProject on an ESM project ("type": "module", zod 4 and zod 3)', async () => {
  const r = await loadProject(fixture('esm-project'))
  const step = (name: string) => r.steps.find((s) => s.manifest.name === name)
  const errorFor = (file: string) => r.errors.filter((e) => e.file === file)

  it('loads the good steps despite broken files next to them', () => {
    expect(r.steps.map((s) => s.manifest.name).sort()).toEqual(['Approval', 'CreateTodo', 'DefaultExport', 'Nightly', 'OnTodoCreated'])
  })

  it('builds manifests with JSON Schema, project-relative files and only the fields of the step type', () => {
    expect(step('CreateTodo')?.manifest).toEqual({
      name: 'CreateTodo',
      type: 'api',
      file: 'steps/create-todo.step.ts',
      description: 'Creates a todo',
      flows: ['todo'],
      path: '/todo/:id',
      method: 'POST',
      emits: ['todo.created'],
      bodySchema: expect.objectContaining({
        type: 'object',
        properties: { title: { type: 'string', description: 'what to do' } },
        required: ['title'],
      }),
      responseSchema: { '201': expect.objectContaining({ type: 'object', required: ['id'] }) },
    })
    expect(step('OnTodoCreated')?.manifest).toMatchObject({
      file: 'steps/nested/on-todo_step.ts',
      subscribes: ['todo.created'],
      input: { type: 'object', required: ['id', 'title'] },
      infrastructure: { handler: { timeout: 10 }, queue: { type: 'fifo', maxRetries: 2, visibilityTimeout: 30 } },
    })
    expect(step('Nightly')?.manifest).toEqual({ name: 'Nightly', type: 'cron', file: 'steps/nightly.step.js', cron: '0 3 * * *', emits: ['report.due'] })
    expect(step('DefaultExport')?.manifest.input).toEqual({ type: 'object', properties: { n: { type: 'number' } } })
    expect(step('Approval')?.handler).toBeUndefined()
  })

  it('keeps middleware from an extensionless local import', () => {
    expect(step('CreateTodo')?.middleware).toHaveLength(1)
    expect(typeof step('CreateTodo')?.handler).toBe('function')
  })

  it('reports a syntax error, a throwing file, a bad config and a missing handler, naming file and key', () => {
    expect(errorFor('steps/broken-syntax.step.ts')).toEqual([
      expect.objectContaining({ code: 'load_failed', message: expect.stringMatching(/^steps\/broken-syntax\.step\.ts: failed to load: syntax error/) }),
    ])
    expect(errorFor('steps/throws.step.ts')[0]?.message).toMatch(/steps\/throws\.step\.ts: failed to load: threw Error: database URL is not set/)
    const bad = errorFor('steps/bad-config.step.ts')
    expect(bad.map((e) => e.key).sort()).toEqual(['method', 'subscribes'])
    expect(bad.find((e) => e.key === 'method')?.message).toBe(
      "steps/bad-config.step.ts: config.method: 'FETCH' is not an HTTP method; use one of GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD",
    )
    expect(errorFor('steps/no-handler.step.ts')[0]).toMatchObject({ key: 'handler', message: expect.stringContaining("does not export a 'handler' function") })
  })

  it('never loads Motia UI node components (*.step.tsx, *_step.jsx) as steps, though they import react', () => {
    expect(r.errors.filter((e) => /\.(tsx|jsx)$/.test(e.file))).toEqual([])
    expect(r.steps.map((s) => s.manifest.file).filter((f) => /\.(tsx|jsx)$/.test(f))).toEqual([])
  })

  it('discovers stream files and reports them', () => {
    expect(r.streams.map((s) => s.manifest)).toEqual([
      expect.objectContaining({ name: 'todo', file: 'steps/todo.stream.ts', storageType: 'default', schema: expect.objectContaining({ type: 'object' }) }),
    ])
  })
})

describe('loadProject on a CommonJS project (no "type")', async () => {
  const r = await loadProject(fixture('cjs-project'))

  it('loads TypeScript with a value import from motia, zod 3 and 4, and module.exports', () => {
    expect(r.errors).toEqual([])
    expect(r.steps.map((s) => s.manifest.name).sort()).toEqual(['Hello', 'Legacy', 'Zod4InCjs'])
    expect(r.steps.find((s) => s.manifest.name === 'Zod4InCjs')?.manifest.input).toMatchObject({ properties: { a: { type: 'integer' } } })
  })

  it('runs a handler that uses an extensionless local import and the motia compat module', async () => {
    const hello = r.steps.find((s) => s.manifest.name === 'Hello')
    const handler = hello?.handler as (req: unknown, ctx: unknown) => Promise<unknown>
    await expect(handler({ pathParams: { name: 'ann' } }, {})).resolves.toEqual({ status: 200, body: { greeting: 'HELLO ANN!' } })
    await expect(handler({ pathParams: { name: 'nobody' } }, {})).rejects.toMatchObject({ name: 'NonRetriableError' })
  })
})

describe('isStepFile', () => {
  it('takes step sources and leaves out UI node components and declarations', () => {
    for (const name of ['a.step.ts', 'a_step.js', 'a.step.mts', 'a_step.cjs']) expect(isStepFile(name), name).toBe(true)
    for (const name of ['a.step.tsx', 'a_step.tsx', 'a.step.jsx', 'a_step.jsx', 'a.step.d.ts', 'a.stream.ts', 'step.ts']) {
      expect(isStepFile(name), name).toBe(false)
    }
    expect(isUiStepFile('a.step.tsx')).toBe(true)
    expect(isUiStepFile('a_step.jsx')).toBe(true)
    expect(isUiStepFile('a.step.ts')).toBe(false)
  })
})
