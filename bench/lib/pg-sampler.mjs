// What the benchmark database's backends are doing while a benchmark runs (pg_stat_activity samples).
import { round, sleep } from './proc.mjs'

/** A short name for one of the runtime's statements (crates/store/src/*.rs), for the activity breakdown. */
export function statementName(q) {
  const names = [
    [/^WITH e AS \( SELECT \* FROM unnest/, 'publish (queue.rs publish_on)'],
    [/^UPDATE queue SET status = 1/, 'claim (queue.rs claim)'],
    [/^UPDATE queue q SET status = 2/, 'complete (queue.rs complete)'],
    [/^INSERT INTO runtimes/, 'heartbeat'],
    [/^SELECT seq, attempt > max_retries/, 'reap_leases'],
    [/^COMMIT/i, 'COMMIT'],
    [/^BEGIN/i, 'BEGIN'],
  ]
  for (const [re, name] of names) if (re.test(q.trim())) return name
  return q.trim().slice(0, 60)
}

/**
 * Samples what the benchmark database's backends are doing (pg_stat_activity) every `ms` until the returned
 * function is called; that resolves to the average number of backends per activity: `CPU` (active, no wait
 * event), `<type>:<event>` (active and waiting, e.g. `Lock:object`, `IO:WALSync`), `idle in transaction
 * (ClientRead)` (inside a transaction, waiting for the runtime's next statement).
 */
export function pgSampler(mon, ownPid, ms = 25) {
  const counts = new Map()
  const queries = new Map()
  let samples = 0
  let stop = false
  const loop = (async () => {
    while (!stop) {
      try {
        const r = await mon.query(
          `SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU')
                       ELSE state || coalesce(' (' || wait_event || ')', '') END AS w,
                  CASE WHEN state = 'active' THEN regexp_replace(left(query, 300), '[[:space:]]+', ' ', 'g') END AS q
             FROM pg_stat_activity
            WHERE datname = current_database() AND backend_type = 'client backend' AND state <> 'idle'
              AND pid <> pg_backend_pid() AND pid <> $1`,
          [ownPid],
        )
        samples++
        for (const row of r.rows) {
          counts.set(row.w, (counts.get(row.w) ?? 0) + 1)
          if (row.q) {
            const k = `${row.w} | ${statementName(row.q)}`
            queries.set(k, (queries.get(k) ?? 0) + 1)
          }
        }
      } catch {}
      await sleep(ms)
    }
  })()
  return async () => {
    stop = true
    await loop
    const total = [...counts.values()].reduce((a, b) => a + b, 0)
    const byActivity = Object.fromEntries(
      [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => [k, round(v / Math.max(1, samples), 2)]),
    )
    const byStatement = Object.fromEntries(
      [...queries.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => [k, round(v / Math.max(1, samples), 2)]),
    )
    return { samples, activeBackends: round(total / Math.max(1, samples), 2), byActivity, byStatement }
  }
}
