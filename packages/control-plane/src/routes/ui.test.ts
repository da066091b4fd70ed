/** The workbench's marker route and the shell's content-security policy (pure parts of routes/ui.ts). */
import { describe, expect, it } from 'vitest'
import { controlPlaneInfo, safeRelative, shellPolicy } from './ui.js'

describe('workbench serving', () => {
  it('GET /__cfp/control-plane names the service and every region runtime', () => {
    expect(controlPlaneInfo({})).toEqual({ service: 'cfp-control-plane', api: '/v1', runtimes: {} })
    expect(controlPlaneInfo({ eu: 'https://rt.eu.example.com' }).runtimes).toEqual({ eu: 'https://rt.eu.example.com' })
  })

  it("the shell's CSP lets the SPA connect to its own origin and the configured runtimes only", () => {
    const html = '<html><script>document.documentElement.dataset.theme="dark"</script><script src="/x.js"></script></html>'
    const base = shellPolicy(html)
    expect(base).toContain("connect-src 'self';")
    expect(base).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+';/)
    const withRuntimes = shellPolicy(html, ['https://rt.eu.example.com', 'http://127.0.0.1:3000', 'https://rt.eu.example.com'])
    expect(withRuntimes).toContain("connect-src 'self' https://rt.eu.example.com http://127.0.0.1:3000;")
  })

  it('maps request paths inside the folder only', () => {
    expect(safeRelative('assets/a.js')).toEqual(['assets', 'a.js'])
    expect(safeRelative('..%2f..%2fpackage.json')).toBeUndefined()
    expect(safeRelative('.env')).toBeUndefined()
  })
})
