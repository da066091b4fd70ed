/**
 * Watches a project's source files for hot reload. Every directory of the project (except node_modules,
 * dot-directories and dist) gets a non-recursive `fs.watch` — portable, and cheaper than a recursive watch that
 * would descend into node_modules. New directories are picked up as they appear. Changes to source files are
 * debounced (100 ms by default) into one callback.
 */
import { type FSWatcher, watch } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { isIgnoredDir } from './loader/discover.js'

const SOURCE_FILE = /\.(?:ts|js|mts|mjs|cts|cjs|tsx|jsx|json)$/

export interface ProjectWatcher {
  close(): void
}

export async function watchProject(dir: string, onChange: (files: string[]) => void, debounceMs = 100): Promise<ProjectWatcher> {
  const watchers = new Map<string, FSWatcher>()
  let changed = new Set<string>()
  let timer: NodeJS.Timeout | undefined
  let closed = false

  const fire = (file: string): void => {
    changed.add(file)
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => {
      const files = [...changed]
      changed = new Set()
      if (!closed) onChange(files)
    }, debounceMs)
  }

  const add = async (d: string): Promise<void> => {
    if (closed || watchers.has(d)) return
    let entries
    try {
      entries = await readdir(d, { withFileTypes: true })
    } catch {
      return // not a directory, or vanished
    }
    if (closed || watchers.has(d)) return
    let w: FSWatcher
    try {
      w = watch(d, (_event, name) => {
        if (name === null) return fire(d)
        const full = join(d, name.toString())
        if (SOURCE_FILE.test(full)) fire(full)
        else if (!isIgnoredDir(name.toString())) void add(full)
      })
    } catch {
      return
    }
    w.on('error', () => {
      w.close()
      watchers.delete(d)
    })
    watchers.set(d, w)
    for (const e of entries) if (e.isDirectory() && !isIgnoredDir(e.name)) await add(join(d, e.name))
  }

  await add(dir)
  return {
    close() {
      closed = true
      if (timer) clearTimeout(timer)
      for (const w of watchers.values()) w.close()
      watchers.clear()
    },
  }
}
