//! Durable topic queues: one row per (event, subscriber step) in `queue`.
//!
//! Life of a row: `publish` inserts it *ready* (status 0) for every step subscribed to the topic, inside the
//! transaction that completes the emitting invocation; `claim` leases a batch (status 1, attempt + 1) with
//! `FOR UPDATE SKIP LOCKED`; `complete` marks it done (status 2) and publishes the handler's emits in the same
//! transaction; `fail` makes it ready again after a backoff, or moves it to `dead_letters` when its attempts are
//! spent. Only the holder of the current attempt can complete or fail a row, so a late result of an expired
//! lease is dropped.

use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::rollups::{self, AttemptEnd, Outcome};
use crate::{Result, Scope, Store};

/// An event to publish to every subscriber of its topic.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub topic: String,
    pub data: Value,
    pub group_id: Option<String>,
    pub trace_id: String,
    /// W3C trace context of the publishing attempt (`docs/tracing.md`).
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

/// A delivery leased to this runtime.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub seq: i64,
    pub event_id: Uuid,
    pub topic: String,
    pub data: Value,
    pub trace_id: String,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub group_id: Option<String>,
    pub attempt: i32,
    pub max_retries: i32,
    /// Seconds since the event was published (its row inserted), at the claim.
    pub lag_s: f64,
}

/// A finished attempt whose emits are published when it is accepted.
#[derive(Debug, Clone)]
pub struct Completion {
    pub scope: Scope,
    /// The step whose delivery finished (its dispatcher wakes: a FIFO group may advance).
    pub step: String,
    pub seq: i64,
    pub attempt: i32,
    pub emits: Vec<NewEvent>,
    /// How long the handler ran (recorded in the step's rollups).
    pub duration_ms: Option<f64>,
}

/// A step that got new work and whose dispatcher should wake.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Woken {
    pub scope: Scope,
    pub step: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Ready again at the given delay.
    Retrying,
    /// Attempts spent (or not retriable): moved to the dead-letter table.
    DeadLettered,
    /// The attempt no longer holds the row (lease expired and the row moved on): nothing changed.
    Stale,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: i64,
    pub step: String,
    pub event_id: Uuid,
    pub topic: String,
    pub data: Value,
    pub trace_id: String,
    pub group_id: Option<String>,
    pub attempts: i32,
    pub error: Value,
    pub failed_at_ms: i64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub step: String,
    pub ready: i64,
    pub delayed: i64,
    pub in_flight: i64,
    pub retrying: i64,
    pub dead: i64,
    /// How long the oldest ready delivery has waited since it became visible (0 with none ready): the lag.
    pub oldest_ready_ms: i64,
}

/// What a lease reaping did, once committed.
#[derive(Debug, Clone, Default)]
pub struct Reaped {
    /// Steps with deliveries ready again.
    pub woken: Vec<Woken>,
    /// Each attempt whose lease was taken back: its step, and whether it was dead-lettered (attempts spent).
    pub lost: Vec<(Scope, String, bool)>,
}

pub const NOTIFY_CHANNEL: &str = "cfp_queue";

impl Store {
    /// Offloads payloads above the threshold; returns (inline data, reference, JSON size in bytes) per event.
    async fn split_payloads(
        &self,
        scope: &[&Scope],
        events: &[&NewEvent],
    ) -> Result<(Vec<Option<String>>, Vec<Option<String>>, Vec<i64>)> {
        let mut data = Vec::with_capacity(events.len());
        let mut refs = Vec::with_capacity(events.len());
        let mut sizes = Vec::with_capacity(events.len());
        for (ev, sc) in events.iter().zip(scope) {
            let text = crate::json_text(&ev.data);
            sizes.push(text.len() as i64);
            if text.len() > self.payload_threshold {
                refs.push(Some(self.payloads.put(sc, &ev.event_id.to_string(), &ev.data).await?));
                data.push(None);
            } else {
                refs.push(None);
                data.push(Some(text));
            }
        }
        Ok((data, refs, sizes))
    }

    /// Inserts one queue row per (event, subscribed step) on `conn`, skipping duplicates (same event id).
    /// Returns the steps that got work. No NOTIFY here: a NOTIFY inside the transaction would take
    /// PostgreSQL's global notify lock until the commit is flushed, serialising every publishing commit;
    /// the engine wakes local dispatchers directly and tells other replicas after the commit.
    pub async fn publish_on(&self, conn: &mut PgConnection, items: &[(&Scope, &NewEvent)]) -> Result<Vec<Woken>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let scopes: Vec<&Scope> = items.iter().map(|(s, _)| *s).collect();
        let events: Vec<&NewEvent> = items.iter().map(|(_, e)| *e).collect();
        let (data, refs, sizes) = self.split_payloads(&scopes, &events).await?;
        let tenants: Vec<&str> = scopes.iter().map(|s| s.tenant.as_str()).collect();
        let projects: Vec<&str> = scopes.iter().map(|s| s.project.as_str()).collect();
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let topics: Vec<&str> = events.iter().map(|e| e.topic.as_str()).collect();
        let traces: Vec<&str> = events.iter().map(|e| e.trace_id.as_str()).collect();
        let groups: Vec<Option<&str>> = events.iter().map(|e| e.group_id.as_deref()).collect();
        let parents: Vec<Option<&str>> = events.iter().map(|e| e.traceparent.as_deref()).collect();
        let states: Vec<Option<&str>> = events.iter().map(|e| e.tracestate.as_deref()).collect();
        let rows = sqlx::query(
            "WITH e AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                                     $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[]) WITH ORDINALITY
                  AS e(tenant_id, project_id, event_id, topic, data, payload_ref, trace_id, group_id, tp, ts, sz, ord)
             ), ins AS (
                INSERT INTO queue (tenant_id, project_id, step, event_id, topic, data, payload_ref, trace_id,
                                   group_id, max_retries, visible_at, traceparent, tracestate)
                SELECT e.tenant_id, e.project_id, s.name, e.event_id, e.topic, e.data::json, e.payload_ref, e.trace_id,
                       e.group_id, s.max_retries, now() + make_interval(secs => s.delay_s), e.tp, e.ts
                  FROM e JOIN steps s
                    ON s.tenant_id = e.tenant_id AND s.project_id = e.project_id
                   AND s.kind = 'event' AND s.subscribes ? e.topic
                 ORDER BY e.ord, s.name
                ON CONFLICT (tenant_id, project_id, step, event_id) DO NOTHING
                RETURNING tenant_id, project_id, step, event_id
             ), metered AS (
                -- Usage metering (crate::usage): the events this statement published, counted with them. An
                -- event already queued (a repeated event id, here or before) is not counted again.
                INSERT INTO usage_deltas (tenant_id, project_id, events, payload_bytes)
                SELECT tenant_id, project_id, count(*), sum(sz) FROM (
                    SELECT DISTINCT ON (e.tenant_id, e.project_id, e.event_id) e.tenant_id, e.project_id, e.sz FROM e
                     WHERE (e.tenant_id, e.project_id, e.event_id) IN (SELECT tenant_id, project_id, event_id FROM ins)
                        OR NOT EXISTS (SELECT 1 FROM steps s WHERE s.tenant_id = e.tenant_id AND s.project_id = e.project_id
                                          AND s.kind = 'event' AND s.subscribes ? e.topic)) d
                 GROUP BY tenant_id, project_id
             )
             SELECT DISTINCT tenant_id, project_id, step FROM ins",
        )
        .bind(&tenants)
        .bind(&projects)
        .bind(&ids)
        .bind(&topics)
        .bind(&data)
        .bind(&refs)
        .bind(&traces)
        .bind(&groups)
        .bind(&parents)
        .bind(&states)
        .bind(&sizes)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Woken {
                scope: Scope::new(r.get::<String, _>(0), r.get::<String, _>(1)),
                step: r.get(2),
            })
            .collect())
    }

    /// Publishes events outside any invocation (API responses, `cfp emit`, replays).
    /// One statement, so it commits atomically without an explicit transaction (one round trip less).
    pub async fn publish(&self, scope: &Scope, events: &[NewEvent]) -> Result<Vec<Woken>> {
        let mut conn = self.pool.acquire().await?;
        let items: Vec<(&Scope, &NewEvent)> = events.iter().map(|e| (scope, e)).collect();
        self.publish_on(&mut conn, &items).await
    }

    /// Tells other runtime replicas that these steps got work (autocommit, after the publishing commit).
    pub async fn notify_woken(&self, woken: &[Woken]) -> Result<()> {
        let keys: Vec<String> = woken
            .iter()
            .map(|w| format!("{}/{}/{}", w.scope.tenant, w.scope.project, w.step))
            .collect();
        sqlx::query("SELECT pg_notify('cfp_queue', k) FROM unnest($1::text[]) AS k")
            .bind(&keys)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether another runtime process heart-beated recently (then NOTIFYs are worth sending).
    pub async fn other_runtimes_alive(&self, me: &str, within_s: u64) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM runtimes WHERE id <> $1
                 AND heartbeat_at > now() - make_interval(secs => $2::double precision))",
        )
        .bind(me)
        .bind(within_s as f64)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Leases up to `limit` ready deliveries of one step until `now` (the engine's clock) + `lease_s`. With
    /// `fifo`, only the oldest open message of each group is eligible, so a group advances strictly in order
    /// while different groups run in parallel.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim(
        &self,
        scope: &Scope,
        step: &str,
        fifo: bool,
        limit: i64,
        lease_s: u64,
        owner: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Claimed>> {
        let fifo_filter = if fifo {
            "AND (q.group_id IS NULL OR NOT EXISTS (
                    SELECT 1 FROM queue p
                     WHERE p.tenant_id = q.tenant_id AND p.project_id = q.project_id AND p.step = q.step
                       AND p.group_id = q.group_id AND p.status < 2 AND p.seq < q.seq))"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE queue SET status = 1, attempt = attempt + 1, lease_owner = $5,
                    lease_until = to_timestamp($7::double precision) + make_interval(secs => $6::double precision)
              WHERE seq IN (
                SELECT q.seq FROM queue q
                 WHERE q.tenant_id = $1 AND q.project_id = $2 AND q.step = $3 AND q.status = 0
                   AND q.visible_at <= now() {fifo_filter}
                 ORDER BY q.visible_at, q.seq
                 LIMIT $4 FOR UPDATE SKIP LOCKED)
              RETURNING seq, event_id, topic, data, payload_ref, trace_id, group_id, attempt, max_retries,
                        traceparent, tracestate, extract(epoch from (now() - created_at))::float8 AS lag_s"
        );
        let rows = sqlx::query(&sql)
            .bind(&scope.tenant)
            .bind(&scope.project)
            .bind(step)
            .bind(limit)
            .bind(owner)
            .bind(lease_s as f64)
            .bind(epoch_s(now))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let payload_ref: Option<String> = r.get("payload_ref");
            let data = match payload_ref {
                Some(reference) => self.payloads.get(&reference).await?,
                None => r.get::<Option<Value>, _>("data").unwrap_or(Value::Null),
            };
            out.push(Claimed {
                seq: r.get("seq"),
                event_id: r.get("event_id"),
                topic: r.get("topic"),
                data,
                trace_id: r.get("trace_id"),
                traceparent: r.get("traceparent"),
                tracestate: r.get("tracestate"),
                group_id: r.get("group_id"),
                attempt: r.get("attempt"),
                max_retries: r.get("max_retries"),
                lag_s: r.get("lag_s"),
            });
        }
        out.sort_by_key(|c| c.seq);
        Ok(out)
    }

    /// How long until the earliest delivery of a step that is not ready yet becomes visible (`delaySeconds`,
    /// retry backoff), for an idle dispatcher's wait; `None` when there is none.
    pub async fn next_visible_in(&self, scope: &Scope, step: &str) -> Result<Option<std::time::Duration>> {
        let ms: Option<f64> = sqlx::query_scalar(
            "SELECT (extract(epoch from (min(visible_at) - now())) * 1000)::float8 FROM queue
              WHERE tenant_id = $1 AND project_id = $2 AND step = $3 AND status = 0 AND visible_at > now()",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(step)
        .fetch_one(&self.pool)
        .await?;
        Ok(ms.map(|ms| std::time::Duration::from_millis(ms.max(0.0) as u64)))
    }

    /// Marks a batch of attempts done and publishes the emits of those accepted, in one transaction.
    /// Returns the accepted sequence numbers and the steps woken by the emits.
    pub async fn complete(&self, batch: &[Completion]) -> Result<(Vec<i64>, Vec<Woken>)> {
        if batch.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let seqs: Vec<i64> = batch.iter().map(|c| c.seq).collect();
        let attempts: Vec<i32> = batch.iter().map(|c| c.attempt).collect();
        let mut tx = self.pool.begin().await?;
        let accepted: Vec<i64> = sqlx::query_scalar(
            // Driven by the primary key: a join with unnest() can get a nested-loop plan over the leased
            // index that degrades as the leased set grows.
            "UPDATE queue q SET status = 2, finished_at = now(), lease_owner = NULL, lease_until = NULL
              WHERE q.seq = ANY($1::bigint[]) AND q.status = 1
                AND q.attempt = ($2::int[])[array_position($1::bigint[], q.seq)]
              RETURNING q.seq",
        )
        .bind(&seqs)
        .bind(&attempts)
        .fetch_all(&mut *tx)
        .await?;
        let ends: Vec<AttemptEnd> = accepted
            .iter()
            .map(|seq| AttemptEnd {
                outcome: Outcome::Ok,
                duration_ms: batch.iter().find(|c| c.seq == *seq).and_then(|c| c.duration_ms),
            })
            .collect();
        rollups::record_on(&mut tx, &accepted, &ends).await?;
        let items: Vec<(&Scope, &NewEvent)> = batch
            .iter()
            .filter(|c| accepted.contains(&c.seq))
            .flat_map(|c| c.emits.iter().map(move |e| (&c.scope, e)))
            .collect();
        let woken = self.publish_on(&mut tx, &items).await?;
        tx.commit().await?;
        Ok((accepted, woken))
    }

    /// Records a failed attempt: ready again after `retry_delay_ms`, or dead-lettered when `retry_delay_ms` is
    /// `None` or the attempts are spent. `end` says how the attempt ended (an attempt that spends the
    /// delivery's attempts is counted `dead_lettered`).
    pub async fn fail(
        &self,
        seq: i64,
        attempt: i32,
        error: &Value,
        retry_delay_ms: Option<u64>,
        end: AttemptEnd,
    ) -> Result<FailOutcome> {
        let mut tx = self.pool.begin().await?;
        let row =
            sqlx::query("SELECT max_retries FROM queue WHERE seq = $1 AND attempt = $2 AND status = 1 FOR UPDATE")
                .bind(seq)
                .bind(attempt)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else {
            return Ok(FailOutcome::Stale);
        };
        let max_retries: i32 = row.get(0);
        let retrying = retry_delay_ms.is_some() && attempt <= max_retries;
        let end = if retrying {
            end
        } else {
            AttemptEnd {
                outcome: Outcome::DeadLettered,
                ..end
            }
        };
        rollups::record_on(&mut tx, &[seq], &[end]).await?;
        let outcome = match retry_delay_ms {
            Some(delay) if retrying => {
                sqlx::query(
                    "UPDATE queue SET status = 0, lease_owner = NULL, lease_until = NULL, last_error = $2,
                            visible_at = now() + make_interval(secs => $3::double precision)
                      WHERE seq = $1",
                )
                .bind(seq)
                .bind(error)
                .bind(delay as f64 / 1000.0)
                .execute(&mut *tx)
                .await?;
                FailOutcome::Retrying
            }
            _ => {
                dead_letter(&mut tx, &[seq], error).await?;
                FailOutcome::DeadLettered
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Gives leased rows back without counting the attempt (graceful shutdown).
    pub async fn release(&self, seqs: &[i64]) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE queue SET status = 0, attempt = attempt - 1, lease_owner = NULL, lease_until = NULL,
                    visible_at = now()
              WHERE seq = ANY($1) AND status = 1",
        )
        .bind(seqs)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Returns to the queue every lease that expired by `now` (the engine's clock; leases are written from the
    /// same clock by [`Store::claim`]) or whose runtime stopped heart-beating (judged by the database's clock,
    /// which writes the heartbeats); rows whose attempts are spent go to the dead-letter table. Returns the
    /// steps to wake and the attempts taken back.
    pub async fn reap_leases(&self, stale_after_s: u64, now: chrono::DateTime<chrono::Utc>) -> Result<Reaped> {
        let mut tx = self.pool.begin().await?;
        let expired = sqlx::query(
            "SELECT seq, attempt > max_retries AS spent, tenant_id, project_id, step FROM queue
              WHERE status = 1 AND (lease_until < to_timestamp($2::double precision) OR lease_owner IS NULL OR lease_owner NOT IN (
                    SELECT id FROM runtimes WHERE heartbeat_at > now() - make_interval(secs => $1::double precision)))
              FOR UPDATE SKIP LOCKED LIMIT 1000",
        )
        .bind(stale_after_s as f64)
        .bind(epoch_s(now))
        .fetch_all(&mut *tx)
        .await?;
        if expired.is_empty() {
            return Ok(Reaped::default());
        }
        let lost: Vec<(Scope, String, bool)> = expired
            .iter()
            .map(|r| {
                let scope = Scope::new(r.get::<String, _>(2), r.get::<String, _>(3));
                (scope, r.get::<String, _>(4), r.get::<bool, _>(1))
            })
            .collect();
        let (spent, retry): (Vec<_>, Vec<_>) = expired.iter().partition(|r| r.get::<bool, _>(1));
        let spent: Vec<i64> = spent.iter().map(|r| r.get(0)).collect();
        let retry: Vec<i64> = retry.iter().map(|r| r.get(0)).collect();
        let error = serde_json::json!({"message": "lease expired: the handler did not finish before its visibility timeout or its runtime stopped"});
        let end = |outcome| AttemptEnd {
            outcome,
            duration_ms: None,
        };
        rollups::record_on(&mut tx, &spent, &vec![end(Outcome::DeadLettered); spent.len()]).await?;
        rollups::record_on(&mut tx, &retry, &vec![end(Outcome::LostWorker); retry.len()]).await?;
        dead_letter(&mut tx, &spent, &error).await?;
        let rows = sqlx::query(
            "UPDATE queue SET status = 0, lease_owner = NULL, lease_until = NULL, visible_at = now(), last_error = $2
              WHERE seq = ANY($1) RETURNING tenant_id, project_id, step",
        )
        .bind(&retry)
        .bind(&error)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut woken: Vec<Woken> = rows
            .iter()
            .map(|r| Woken {
                scope: Scope::new(r.get::<String, _>(0), r.get::<String, _>(1)),
                step: r.get(2),
            })
            .collect();
        woken.dedup();
        Ok(Reaped { woken, lost })
    }

    /// Enqueues the run of a cron step for one scheduled tick. The event id is derived from (step, tick), so
    /// replicas that schedule the same tick insert it once: exactly one execution per (step, tick).
    pub async fn enqueue_cron(
        &self,
        scope: &Scope,
        step: &str,
        event_id: Uuid,
        tick_iso: &str,
        trace_id: &str,
    ) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO queue (tenant_id, project_id, step, event_id, topic, data, trace_id, max_retries)
             SELECT $1, $2, $3, $4, '', json_build_object('scheduledAt', $5::text), $6, s.max_retries
               FROM steps s WHERE s.tenant_id = $1 AND s.project_id = $2 AND s.name = $3 AND s.kind = 'cron'
             ON CONFLICT DO NOTHING
             RETURNING pg_notify('cfp_queue', tenant_id || '/' || project_id || '/' || step)",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(step)
        .bind(event_id)
        .bind(tick_iso)
        .bind(trace_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(inserted.is_some())
    }

    /// Deletes done rows older than the retention window (their ids stop deduplicating after that).
    pub async fn sweep_done(&self, retention_s: u64) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM queue WHERE seq IN (SELECT seq FROM queue WHERE status = 2
                AND finished_at < now() - make_interval(secs => $1::double precision) LIMIT 5000)",
        )
        .bind(retention_s as f64)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn dead_letters(&self, scope: &Scope, step: Option<&str>, limit: i64) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query(
            "SELECT id, step, event_id, topic, data, payload_ref, trace_id, group_id, attempts, error,
                    (extract(epoch from failed_at) * 1000)::bigint AS failed_at_ms
               FROM dead_letters WHERE tenant_id = $1 AND project_id = $2 AND ($3::text IS NULL OR step = $3)
              ORDER BY id DESC LIMIT $4",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(step)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let data = match r.get::<Option<String>, _>("payload_ref") {
                Some(reference) => serde_json::json!({ "$payloadRef": reference }),
                None => r.get::<Option<Value>, _>("data").unwrap_or(Value::Null),
            };
            out.push(DeadLetter {
                id: r.get("id"),
                step: r.get("step"),
                event_id: r.get("event_id"),
                topic: r.get("topic"),
                data,
                trace_id: r.get("trace_id"),
                group_id: r.get("group_id"),
                attempts: r.get("attempts"),
                error: r.get::<Option<Value>, _>("error").unwrap_or(Value::Null),
                failed_at_ms: r.get("failed_at_ms"),
            });
        }
        Ok(out)
    }

    /// Puts a dead letter back on its step's queue with fresh attempts. Returns the woken step.
    pub async fn replay_dead_letter(&self, scope: &Scope, id: i64) -> Result<Option<Woken>> {
        replay_dead_letter_on(&self.pool, scope, id).await
    }

    pub async fn discard_dead_letter(&self, scope: &Scope, id: i64) -> Result<bool> {
        discard_dead_letter_on(&self.pool, scope, id).await
    }
}

pub(crate) async fn replay_dead_letter_on(
    ex: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    id: i64,
) -> Result<Option<Woken>> {
    let row = sqlx::query(
        "WITH d AS (DELETE FROM dead_letters WHERE tenant_id = $1 AND project_id = $2 AND id = $3 RETURNING *)
             INSERT INTO queue (tenant_id, project_id, step, event_id, topic, data, payload_ref, trace_id, group_id,
                                max_retries, traceparent, tracestate)
             SELECT d.tenant_id, d.project_id, d.step, d.event_id, d.topic, d.data, d.payload_ref, d.trace_id,
                    d.group_id, COALESCE(s.max_retries, 3), d.traceparent, d.tracestate
               FROM d LEFT JOIN steps s ON s.tenant_id = d.tenant_id AND s.project_id = d.project_id AND s.name = d.step
             ON CONFLICT (tenant_id, project_id, step, event_id) DO UPDATE
                SET status = 0, attempt = 0, visible_at = now(), lease_owner = NULL, lease_until = NULL,
                    finished_at = NULL
             RETURNING step, pg_notify('cfp_queue', tenant_id || '/' || project_id || '/' || step)",
    )
    .bind(&scope.tenant)
    .bind(&scope.project)
    .bind(id)
    .fetch_optional(ex)
    .await?;
    Ok(row.map(|r| Woken {
        scope: scope.clone(),
        step: r.get(0),
    }))
}

pub(crate) async fn discard_dead_letter_on(ex: impl sqlx::PgExecutor<'_>, scope: &Scope, id: i64) -> Result<bool> {
    let r = sqlx::query("DELETE FROM dead_letters WHERE tenant_id = $1 AND project_id = $2 AND id = $3")
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() == 1)
}

impl Store {
    /// Depth, in-flight and retry counts per step of a project.
    pub async fn queue_stats(&self, scope: &Scope) -> Result<Vec<QueueStats>> {
        let rows = sqlx::query(
            "SELECT s.name,
                    count(q.seq) FILTER (WHERE q.status = 0 AND q.visible_at <= now()) AS ready,
                    count(q.seq) FILTER (WHERE q.status = 0 AND q.visible_at > now()) AS delayed,
                    count(q.seq) FILTER (WHERE q.status = 1) AS in_flight,
                    count(q.seq) FILTER (WHERE q.status < 2 AND q.attempt > 0 AND q.last_error IS NOT NULL) AS retrying,
                    (SELECT count(*) FROM dead_letters d WHERE d.tenant_id = s.tenant_id
                        AND d.project_id = s.project_id AND d.step = s.name) AS dead,
                    COALESCE((extract(epoch FROM now() - min(q.visible_at)
                        FILTER (WHERE q.status = 0 AND q.visible_at <= now())) * 1000)::int8, 0) AS oldest_ready_ms
               FROM steps s LEFT JOIN queue q
                 ON q.tenant_id = s.tenant_id AND q.project_id = s.project_id AND q.step = s.name AND q.status < 2
              WHERE s.tenant_id = $1 AND s.project_id = $2 AND s.kind IN ('event', 'cron')
              GROUP BY s.tenant_id, s.project_id, s.name ORDER BY s.name",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| QueueStats {
                step: r.get(0),
                ready: r.get(1),
                delayed: r.get(2),
                in_flight: r.get(3),
                retrying: r.get(4),
                dead: r.get(5),
                oldest_ready_ms: r.get(6),
            })
            .collect())
    }
}

async fn dead_letter(conn: &mut PgConnection, seqs: &[i64], error: &Value) -> Result<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH d AS (DELETE FROM queue WHERE seq = ANY($1) RETURNING *)
         INSERT INTO dead_letters (tenant_id, project_id, step, event_id, topic, data, payload_ref, trace_id,
                                   group_id, attempts, error, traceparent, tracestate)
         SELECT tenant_id, project_id, step, event_id, topic, data, payload_ref, trace_id, group_id, attempt,
                COALESCE($2, last_error), traceparent, tracestate
           FROM d",
    )
    .bind(seqs)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Seconds since the epoch, with milliseconds, as PostgreSQL's `to_timestamp` takes them.
fn epoch_s(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}
