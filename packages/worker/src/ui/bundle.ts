/**
 * The workbench UI a project brings: the tabs its plugins declare (`motia.config.*`, `workbench: [...]`) and its
 * node components (`*.step.tsx` / `*_step.tsx`, each the flow-view node of the step in the file of the same base
 * name). Each is bundled here with esbuild into one self-contained browser script (React and react-dom from the
 * project's node_modules included) that the workbench runs in a sandboxed iframe (docs/workbench.md, "Plugin tabs
 * and node components"). The script renders the component when the workbench sends `cfp:init` and reports its
 * height with `cfp:resize`. A component that cannot be bundled is reported naming its file; the rest is kept.
 */
import { createHash } from 'node:crypto'
import { relative, resolve, sep } from 'node:path'
import type { LoadedStep } from '../loader/load.js'
import type { LoadedPlugin } from '../plugins/load.js'
import { discoverNodeComponents } from './discover.js'

/** Bounds: one bundle, all of them, how many. */
export const UI_LIMITS = { maxBundleBytes: 2 * 1024 * 1024, maxTotalBytes: 16 * 1024 * 1024, maxBundles: 32 }

export interface UiTab {
  /** The declaring plugin's name. */
  plugin: string
  label: string
  labelIcon?: string
  position: 'top' | 'bottom'
  /** Props of the descriptor, passed to the component. */
  props?: Record<string, unknown>
  /** sha256 (hex) of its script in `bundles`. */
  bundle: string
}

export interface UiNode {
  step: string
  /** Project-relative path of the component file. */
  file: string
  bundle: string
}

export interface UiManifest {
  tabs: UiTab[]
  nodes: UiNode[]
  /** sha256 hex -> script. */
  bundles: Record<string, string>
}

export interface UiError {
  file: string
  code: 'ui_bundle_failed'
  message: string
}

/** The frame side of the postMessage API (docs/workbench.md), run before the component's module. */
const FRAME_MAIN = `
const MAX_HEIGHT = 4000
let root
let lastHeight = -1
function show(props) {
  try {
    root ??= createRoot(document.getElementById('root'))
    root.render(React.createElement(Component, props))
  } catch (err) {
    document.getElementById('root').textContent = 'This component failed: ' + (err && err.message)
  }
}
window.addEventListener('message', (e) => {
  if (e.source !== window.parent) return
  const m = e.data
  if (!m || typeof m !== 'object' || m.type !== 'cfp:init') return
  const props = m.props && typeof m.props === 'object' ? m.props : {}
  show(props)
})
function report() {
  const h = Math.min(MAX_HEIGHT, Math.ceil(document.documentElement.scrollHeight))
  if (h === lastHeight) return
  lastHeight = h
  window.parent.postMessage({ type: 'cfp:resize', height: h }, '*')
}
new ResizeObserver(report).observe(document.documentElement)
report()
`

function entrySource(modulePath: string, exportName: string | undefined): string {
  const pick = exportName ? `mod[${JSON.stringify(exportName)}]` : `(mod.default ?? Object.values(mod).find((v) => typeof v === 'function'))`
  return [
    `import * as React from 'react'`,
    `import { createRoot } from 'react-dom/client'`,
    `import * as mod from ${JSON.stringify(modulePath)}`,
    `const Component = ${pick}`,
    `if (typeof Component !== 'function' && typeof Component !== 'object') throw new Error(${JSON.stringify(
      `${exportName ? `export '${exportName}'` : 'a default export'} that is a React component was not found`,
    )})`,
    FRAME_MAIN,
  ].join('\n')
}

const relPath = (root: string, path: string): string => relative(root, path).split(sep).join('/')

/** Where a tab's `packageName` points: `~/x` is the project's `x`, a relative path is the project's, else a package. */
function tabModule(root: string, packageName: string): string {
  if (packageName.startsWith('~/')) return resolve(root, packageName.slice(2))
  if (packageName.startsWith('./') || packageName.startsWith('../')) return resolve(root, packageName)
  return packageName
}

type Esbuild = typeof import('esbuild')
let esbuild: Promise<Esbuild> | undefined

/** Bundles one component into a browser script; throws with esbuild's first messages. */
async function bundleOne(root: string, modulePath: string, exportName: string | undefined): Promise<string> {
  esbuild ??= import('esbuild')
  const { build } = await esbuild
  const out = await build({
    stdin: { contents: entrySource(modulePath, exportName), resolveDir: root, loader: 'js', sourcefile: 'cfp-ui-entry.js' },
    absWorkingDir: root,
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    jsx: 'automatic',
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
    loader: { '.css': 'empty', '.svg': 'dataurl', '.png': 'dataurl' },
  })
  const file = out.outputFiles[0]
  if (!file) throw new Error('esbuild produced no output')
  return file.text
}

function describe(err: unknown): string {
  const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> }).errors
  if (Array.isArray(errors) && errors.length > 0) {
    return errors
      .slice(0, 3)
      .map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
      .join(' | ')
  }
  return err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)
}

/** The step whose file is the component's, but for the extension (`a.step.tsx` -> `a.step.ts`, `.js`, …). */
function stepOf(file: string, steps: LoadedStep[]): LoadedStep | undefined {
  const base = file.replace(/\.(?:tsx|jsx)$/, '')
  return steps.find((s) => s.manifest.file !== file && s.manifest.file.replace(/\.[cm]?[jt]sx?$/, '') === base)
}

/** Bundles every plugin tab and node component of the project at `dir`. */
export async function bundleUi(dir: string, steps: LoadedStep[], plugins: LoadedPlugin[]): Promise<{ ui: UiManifest; errors: UiError[] }> {
  const root = resolve(dir)
  const ui: UiManifest = { tabs: [], nodes: [], bundles: {} }
  const errors: UiError[] = []
  let total = 0
  const add = async (file: string, modulePath: string, exportName: string | undefined, what: string): Promise<string | undefined> => {
    const fail = (reason: string): undefined => {
      errors.push({ file, code: 'ui_bundle_failed', message: `${file}: ${what} cannot be shown in the workbench: ${reason}` })
      return undefined
    }
    if (Object.keys(ui.bundles).length >= UI_LIMITS.maxBundles) return fail(`more than ${UI_LIMITS.maxBundles} workbench components`)
    let code: string
    try {
      code = await bundleOne(root, modulePath, exportName)
    } catch (err) {
      return fail(describe(err))
    }
    const bytes = Buffer.byteLength(code)
    if (bytes > UI_LIMITS.maxBundleBytes) return fail(`its bundle is ${bytes} bytes; at most ${UI_LIMITS.maxBundleBytes} are allowed`)
    if (total + bytes > UI_LIMITS.maxTotalBytes) return fail(`the workbench components exceed ${UI_LIMITS.maxTotalBytes} bytes in all`)
    const hash = createHash('sha256').update(code).digest('hex')
    if (!ui.bundles[hash]) total += bytes
    ui.bundles[hash] = code
    return hash
  }
  for (const plugin of plugins) {
    for (const tab of plugin.workbench) {
      if (tab.cfpBuiltin) continue // CFP's own pages show what Motia's stock tabs did.
      const label = tab.label ?? tab.componentName ?? tab.packageName
      const bundle = await add(
        plugin.file,
        tabModule(root, tab.packageName),
        tab.componentName,
        `the tab '${label}' of plugin ${plugin.name} (${tab.packageName})`,
      )
      if (!bundle) continue
      const entry: UiTab = { plugin: plugin.name, label, position: tab.position ?? 'top', bundle }
      if (tab.labelIcon) entry.labelIcon = tab.labelIcon
      if (tab.props && typeof tab.props === 'object') entry.props = tab.props
      ui.tabs.push(entry)
    }
  }
  for (const path of await discoverNodeComponents(root)) {
    const file = relPath(root, path)
    const step = stepOf(file, steps)
    if (!step) {
      errors.push({
        file,
        code: 'ui_bundle_failed',
        message: `${file}: a node component needs a step file of the same name beside it (e.g. ${file.replace(/x$/, '')})`,
      })
      continue
    }
    const bundle = await add(file, path, undefined, `the node component of step '${step.manifest.name}'`)
    if (bundle) ui.nodes.push({ step: step.manifest.name, file, bundle })
  }
  return { ui, errors }
}
