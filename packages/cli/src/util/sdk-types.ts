/**
 * Copies the declaration files of `@cfp/sdk` into `<project>/.cfp/sdk/`, so that a project's editor and `tsc`
 * resolve `import … from 'motia'` without Motia installed: the project's tsconfig maps
 * `"motia": ["./.cfp/sdk/motia.d.ts"]`. Run by `cfp generate-types` (and so by `cfp dev`).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findPackageRoot } from './paths.js'

function sdkDist(): string | undefined {
  try {
    const entry = fileURLToPath(import.meta.resolve('@cfp/sdk'))
    const root = findPackageRoot(dirname(entry), '@cfp/sdk')
    const dist = root ? join(root, 'dist') : undefined
    return dist && existsSync(join(dist, 'motia.d.ts')) ? dist : undefined
  } catch {
    return undefined
  }
}

function copyDeclarations(from: string, to: string): number {
  let count = 0
  mkdirSync(to, { recursive: true })
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name)
    if (entry.isDirectory()) count += copyDeclarations(source, join(to, entry.name))
    else if (entry.name.endsWith('.d.ts')) {
      copyFileSync(source, join(to, entry.name))
      count++
    }
  }
  return count
}

/** Returns the directory written, or undefined when `@cfp/sdk` is not built (nothing is copied then). */
export function syncSdkTypes(projectDir: string): string | undefined {
  return copySdkTypes(projectDir, sdkDist())
}

/** Copies the `.d.ts` files of an sdk `dist` directory (undefined: nothing to copy). */
export function copySdkTypes(projectDir: string, dist: string | undefined): string | undefined {
  if (!dist) return undefined
  const target = join(projectDir, '.cfp', 'sdk')
  if (relative(dist, target) === '') return target
  copyDeclarations(dist, target)
  return target
}
