import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { prettyLine } from './logging.js'
import { parseOptions } from './options.js'
import { startControlPlane, type Started } from './server.js'
import { createHarness, DB_URL, type Harness } from './test-support/harness.js'

const TOKEN = 'metrics-token-0123456789'

/** The value of one sample, exactly as exposed (`name{labels}`). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('control-plane /metrics', () => {
  const harnesses: Harness[] = []
  const started: Started[] = []
  const schemas: string[] = []
  afterAll(async () => {
    for (const h of harnesses) await h.close()
    for (const s of started) await s.close()
    const c = new pg.Client({ connectionString: DB_URL })
    await c.connect()
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`)
    await c.end()
  })

  it('with a token: 401 without it or with another, RED metrics by route pattern with it', async () => {
    const h = await createHarness({ options: { metricsToken: TOKEN } })
    harnesses.push(h)
    expect((await h.request('GET', '/metrics')).status).toBe(401)
    expect((await h.request('GET', '/metrics', { token: 'wrong-token-0123456789' })).status).toBe(401)
    // Two requests to the same route with different ids: one series, by pattern, never the raw path.
    const id1 = `t_${randomBytes(4).toString('hex')}`
    expect((await h.request('GET', `/v1/tenants/${id1}`)).status).toBe(401)
    expect((await h.request('GET', '/v1/tenants/another-id')).status).toBe(401)
    expect((await h.request('GET', '/no/such/route')).status).toBe(404)
    const ok = await h.request('GET', '/metrics', { token: TOKEN })
    expect(ok.status).toBe(200)
    expect(String(ok.headers['content-type'])).toMatch(/^text\/plain/)
    const text = ok.body
    expect(sample(text, 'cfp_cp_http_requests_total{method="GET",route="/v1/tenants/:tenantId",status="401"}')).toBe(2)
    expect(sample(text, 'cfp_cp_http_request_duration_seconds_count{method="GET",route="/v1/tenants/:tenantId"}')).toBe(2)
    expect(sample(text, 'cfp_cp_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1)
    expect(sample(text, 'cfp_cp_http_requests_total{method="GET",route="/metrics",status="401"}')).toBe(2)
    expect(text).not.toContain(id1)
    expect(text).not.toContain('another-id')
    expect(text).toContain('process_cpu_user_seconds_total')
  })

  it('with neither a token nor a metrics port, /metrics is served nowhere', async () => {
    const h = await createHarness()
    harnesses.push(h)
    expect((await h.request('GET', '/metrics')).status).toBe(404)
    expect((await h.request('GET', '/metrics', { token: TOKEN })).status).toBe(404)
  })

  it('a separate metrics port serves /metrics; the main port then does not', async () => {
    const schema = `cfp_control_m_${randomBytes(4).toString('hex')}`
    schemas.push(schema)
    const { options } = parseOptions(['--port', '0', '--metrics-port', '0', '--log-level', 'silent'], {
      DATABASE_URL: DB_URL,
      CFP_CONTROL_SCHEMA: schema,
      CFP_CONTROL_MASTER_KEY: randomBytes(32).toString('base64'),
      CFP_CONTROL_METRICS_TOKEN: TOKEN,
    })
    const s = await startControlPlane(options, { logger: false, maintenance: false })
    started.push(s)
    expect(s.metricsUrl).toBeDefined()
    expect((await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404)
    expect((await fetch(`${s.metricsUrl}/metrics`)).status).toBe(401)
    const res = await fetch(`${s.metricsUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('cfp_cp_http_requests_total{method="GET",route="unmatched",status="404"} 1')
    expect((await fetch(`${s.metricsUrl}/v1/tenants`)).status).toBe(404)
  })

  it('pretty log lines are one readable line each', () => {
    const line = prettyLine(JSON.stringify({ level: 30, time: 0, pid: 1, hostname: 'h', msg: 'request completed', tenant: 'acme', trace_id: 'ab' }))
    expect(line).toBe('00:00:00.000 INFO  request completed tenant=acme trace_id=ab')
    expect(prettyLine('not json')).toBe('not json')
  })
})
