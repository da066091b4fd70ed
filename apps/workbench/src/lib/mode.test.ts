import { describe, expect, it } from 'vitest'
import { detectMode, detectServer } from './mode'

const respond = (body: string, type: string, status = 200) =>
  (async () => new Response(body, { status, headers: { 'content-type': type } })) as unknown as typeof fetch

describe('detectMode', () => {
  it('is control when the control plane answers its marker', async () => {
    expect(await detectMode(respond('{"service":"cfp-control-plane","api":"/v1"}', 'application/json'))).toBe('control')
  })
  it('is runtime when the path answers the SPA shell, another JSON, an error, or nothing', async () => {
    expect(await detectMode(respond('<!doctype html><div id="root">', 'text/html; charset=utf-8'))).toBe('runtime')
    expect(await detectMode(respond('{"service":"other"}', 'application/json'))).toBe('runtime')
    expect(await detectMode(respond('{}', 'application/json', 404))).toBe('runtime')
    expect(await detectMode((async () => Promise.reject(new TypeError('down'))) as unknown as typeof fetch)).toBe('runtime')
  })
  it("keeps the control plane's runtime URLs (http and https origins only)", async () => {
    const body = JSON.stringify({
      service: 'cfp-control-plane',
      runtimes: { eu: 'https://rt.eu.example.com/', local: 'http://127.0.0.1:3000', bad: 'javascript:alert(1)', n: 3 },
    })
    expect(await detectServer(respond(body, 'application/json'))).toEqual({
      mode: 'control',
      runtimes: { eu: 'https://rt.eu.example.com', local: 'http://127.0.0.1:3000' },
    })
    expect(await detectServer(respond('{"service":"cfp-control-plane"}', 'application/json'))).toEqual({ mode: 'control', runtimes: {} })
  })
})
