import { describe, expect, it } from 'vitest'
import { flowLayout, mergePositions, parseLayoutFile, serializeLayoutFile, setFlowLayout, stepLayoutKey, withPositions } from './layout-file'

// the shape Motia 0.17 writes (e.g. MotiaDev/build-your-first-app's motia-workbench.json)
const motiaFile = [
  {
    id: 'basic-tutorial',
    config: {
      'src/api.step.ts': { x: 15, y: 461, sourceHandlePosition: 'right' },
      'src/process-food-order.step.ts': { x: 384, y: 476, targetHandlePosition: 'left' },
    },
  },
  { id: 'pets', config: { 'src/typescript/create-pet.step.ts': { x: 0, y: 0 } } },
]

describe('motia-workbench.json', () => {
  it('round-trips a Motia file unchanged', () => {
    const text = JSON.stringify(motiaFile, null, 2)
    const parsed = parseLayoutFile(JSON.parse(text))
    expect(parsed).toEqual(motiaFile)
    expect(serializeLayoutFile(parsed)).toBe(`${text}\n`)
    expect(parseLayoutFile(serializeLayoutFile(parsed))).toEqual(parsed)
  })

  it('replaces one flow and keeps the others, their order and the handle positions', () => {
    const file = parseLayoutFile(motiaFile)
    const config = withPositions(flowLayout(file, 'basic-tutorial'), [['src/api.step.ts', { x: 100.4, y: 200.6 }]])
    const next = setFlowLayout(file, 'basic-tutorial', config)
    expect(next.map((f) => f.id)).toEqual(['basic-tutorial', 'pets'])
    expect(next[0]!.config['src/api.step.ts']).toEqual({ x: 100, y: 201, sourceHandlePosition: 'right' })
    expect(next[0]!.config['src/process-food-order.step.ts']).toEqual(motiaFile[0]!.config['src/process-food-order.step.ts'])
    expect(next[1]).toEqual(motiaFile[1])
    // the input is not modified
    expect(file[0]!.config['src/api.step.ts']!.x).toBe(15)
  })

  it('appends a new flow', () => {
    const next = setFlowLayout(parseLayoutFile(motiaFile), 'hello', { 'steps/a.step.ts': { x: 1, y: 2 } })
    expect(next.map((f) => f.id)).toEqual(['basic-tutorial', 'pets', 'hello'])
  })

  it('reads the older object form and drops malformed entries', () => {
    expect(parseLayoutFile({ flow: { 'a.step.ts': { x: 1, y: 2 }, bad: { x: 'no' } } })).toEqual([{ id: 'flow', config: { 'a.step.ts': { x: 1, y: 2 } } }])
    expect(parseLayoutFile([{ id: 'f', config: { k: { x: 1, y: 1, sourceHandlePosition: 'left' } } }, { nope: 1 }, 3])).toEqual([
      { id: 'f', config: { k: { x: 1, y: 1 } } },
    ])
    expect(parseLayoutFile('not json')).toEqual([])
    expect(parseLayoutFile(null)).toEqual([])
  })

  it('keys steps by their project-relative file, else by name', () => {
    expect(stepLayoutKey({ name: 'A', file: './steps/a.step.ts' })).toBe('steps/a.step.ts')
    expect(stepLayoutKey({ name: 'A', file: 'steps\\a.step.ts' })).toBe('steps/a.step.ts')
    expect(stepLayoutKey({ name: 'A' })).toBe('A')
  })

  it('uses saved positions and moves unsaved nodes clear of them', () => {
    const nodes = [
      { id: 'A', key: 'a', width: 200, height: 80 },
      { id: 'B', key: 'b', width: 200, height: 80 },
    ]
    const auto = new Map([
      ['A', { x: 0, y: 0 }],
      ['B', { x: 280, y: 0 }],
    ])
    expect(mergePositions(nodes, {}, auto)).toEqual(auto)
    const merged = mergePositions(nodes, { a: { x: 500, y: 40 } }, auto)
    expect(merged.get('A')).toEqual({ x: 500, y: 40 })
    expect(merged.get('B')!.x).toBeGreaterThanOrEqual(700)
  })
})
