// The event catalogue (audit/events.json) is well formed, covers issue 10 §1, and docs/audit-events.md is current.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..', '..')
const catalogue = JSON.parse(readFileSync(join(root, 'audit', 'events.json'), 'utf8'))

describe('audit/events.json', () => {
  it('has unique, well-formed kinds with plane, target, description and details', () => {
    const seen = new Set<string>()
    for (const k of catalogue.kinds) {
      expect(k.kind).toMatch(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/)
      expect(seen.has(k.kind), k.kind).toBe(false)
      seen.add(k.kind)
      expect(k.plane).toMatch(/^(control|runtime)(\|(control|runtime))?$/)
      expect(['active', 'reserved']).toContain(k.status)
      expect(typeof k.target).toBe('string')
      expect(k.description.length).toBeGreaterThan(5)
      expect(typeof k.details).toBe('object')
      for (const name of Object.keys(k.details)) expect(name, k.kind).not.toMatch(/password|secret|token$|private/i)
    }
  })

  it('covers every item issue 10 §1 asks for', () => {
    const kinds = new Set(catalogue.kinds.map((k: any) => k.kind))
    const required = [
      ...['tenant', 'team', 'project', 'user', 'idp'].flatMap((r) => [`${r}.create`, `${r}.update`, `${r}.delete`]),
      'membership.create',
      'membership.delete',
      'role_binding.create',
      'role_binding.delete',
      'api_key.create',
      'api_key.revoke',
      'worker_token.create',
      'limits.update',
      'cors.update',
      'validation.update',
      'settings.update',
      'auth.login',
      'auth.refresh_reuse',
      'auth.revoke',
      'auth.logout',
      'auth.failure',
      'worker.register',
      'worker.deregister',
      'diagnostic.use',
      'state.write',
      'state.delete',
      'event.emit',
      'dlq.replay',
      'dlq.discard',
      'settings.applied',
      'project.purge',
    ]
    for (const r of required) expect(kinds.has(r), r).toBe(true)
    for (const prefix of ['llm.', 'report.', 'ide.']) {
      expect(
        catalogue.kinds.some((k: any) => k.kind.startsWith(prefix) && k.status === 'reserved'),
        prefix,
      ).toBe(true)
    }
    const login = catalogue.kinds.find((k: any) => k.kind === 'auth.login')
    expect(Object.keys(login.details)).toContain('method')
    const reg = catalogue.kinds.find((k: any) => k.kind === 'worker.register')
    expect(Object.keys(reg.details)).toContain('manifest_hash')
  })

  it('docs/audit-events.md is generated from it and up to date', async () => {
    const gen = await import(join(root, 'audit', 'events-doc.mjs'))
    const doc = readFileSync(join(root, 'docs', 'audit-events.md'), 'utf8')
    expect(doc, 'docs/audit-events.md is stale: run `node audit/events-doc.mjs`').toBe(gen.render(catalogue))
    // and the check fails on a changed catalogue
    const changed = structuredClone(catalogue)
    changed.kinds[0].description += ' (changed)'
    expect(gen.render(changed)).not.toBe(doc)
  })
})
