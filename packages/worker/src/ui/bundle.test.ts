import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { loadProject } from '../loader/load.js'
import { bundleUi, UI_LIMITS } from './bundle.js'

const fixture = fileURLToPath(new URL('../../fixtures/ui-project', import.meta.url))

describe('bundleUi (plugin tabs and *.step.tsx node components)', async () => {
  const loaded = await loadProject(fixture)
  const { ui, errors } = await bundleUi(fixture, loaded.steps, loaded.plugins ?? [])

  it('bundles the declared tab with its label, position, props and a content-addressed script', () => {
    expect(ui.tabs).toHaveLength(1)
    const tab = ui.tabs[0]!
    expect(tab).toMatchObject({ plugin: 'probePlugin', label: 'Probe', labelIcon: 'flask', position: 'top', props: { greeting: 'hello from the plugin' } })
    const code = ui.bundles[tab.bundle]!
    expect(createHash('sha256').update(code).digest('hex')).toBe(tab.bundle)
    expect(code).toContain('cfp:resize')
    expect(code).toContain('probe-findings')
    // React is inside: the script needs nothing from the page.
    expect(code).not.toMatch(/\bimport\s*[{*]|require\(/)
    expect(Buffer.byteLength(code)).toBeLessThan(UI_LIMITS.maxBundleBytes)
  })

  it('attaches greet.step.tsx to the step of greet.step.ts', () => {
    expect(ui.nodes.map((n) => [n.step, n.file])).toEqual([['Greet', 'steps/greet.step.tsx']])
    expect(ui.bundles[ui.nodes[0]!.bundle]).toContain('custom-node')
  })

  it('reports a tab that does not compile, and a node component without a step, naming the file', () => {
    const broken = errors.find((e) => e.file === 'motia.config.ts' || e.message.includes('broken-tab'))
    expect(broken?.message).toMatch(/tab 'Broken'.*broken-tab\.tsx:3/)
    expect(errors.find((e) => e.file === 'steps/lonely_step.jsx')?.message).toMatch(/needs a step file of the same name/)
    expect(Object.keys(ui.bundles)).toHaveLength(2)
  })
})

describe('bundleUi in a project without react', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfp-ui-noreact-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('names the file and says react is missing; nothing else is lost', async () => {
    mkdirSync(join(dir, 'steps'))
    writeFileSync(join(dir, 'steps/a.step.ts'), "export const config = { type: 'noop', name: 'A' }\n")
    writeFileSync(join(dir, 'steps/a.step.tsx'), 'export default () => <div>a</div>\n')
    const step = { manifest: { name: 'A', type: 'noop', file: 'steps/a.step.ts' } } as never
    const { ui, errors } = await bundleUi(dir, [step], [])
    expect(ui.nodes).toEqual([])
    expect(errors).toHaveLength(1)
    expect(errors[0]?.file).toBe('steps/a.step.tsx')
    expect(errors[0]?.message).toMatch(/steps\/a\.step\.tsx: .*step 'A'.*Could not resolve "react/)
  })
})
