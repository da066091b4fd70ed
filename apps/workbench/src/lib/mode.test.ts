import { describe, expect, it } from 'vitest'
import { detectMode } from './mode'

const respond = (body: string, type: string, status = 200) => (async () => new Response(body, { status, headers: { 'content-type': type } })) as unknown as typeof fetch

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
})
