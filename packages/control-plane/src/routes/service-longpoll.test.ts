/** Long-polls of the service API end with the server: a shutdown does not wait out a runtime's 20 s poll. */
import { describe, expect, it } from 'vitest'
import { createHarness, SERVICE_TOKEN } from '../test-support/harness.js'

describe('service long-polls', () => {
  it('answer at once when the control plane shuts down', async () => {
    const h = await createHarness({ listen: true })
    const first = await fetch(`${h.url}/v1/service/projects?region=eu`, { headers: { authorization: `Bearer ${SERVICE_TOKEN}` } })
    const { version } = (await first.json()) as { version: number }
    const started = Date.now()
    const polls = [
      fetch(`${h.url}/v1/service/projects?region=eu&since=${version}&wait=10`, { headers: { authorization: `Bearer ${SERVICE_TOKEN}` } }),
      fetch(`${h.url}/v1/service/revocations?since=999999&wait=10`, { headers: { authorization: `Bearer ${SERVICE_TOKEN}` } }),
    ]
    await new Promise((r) => setTimeout(r, 200))
    await h.close()
    const answers = await Promise.all(polls)
    expect(answers.map((a) => a.status)).toEqual([200, 200])
    expect(Date.now() - started).toBeLessThan(3_000)
  })
})
