//! Usage metering (docs/usage.md): per-tenant and per-project counters per hour and per UTC day, kept
//! [`HOUR_RETENTION`] and [`DAY_RETENTION`].
//!
//! Two sources, two exactness guarantees:
//! - **Durable, exact.** Invocations, attempts and execution time come from the `step_outcomes` rows written
//!   with each attempt's end (`rollups`); events published and payload bytes from the `usage_deltas` row the
//!   publishing statement itself writes. [`crate::Store::roll_up`] folds both into `usage_counters` in the
//!   transaction that deletes them, so every completed delivery is counted once, whatever retries, lost workers
//!   or crashes happen around it.
//! - **Metered in memory.** Stream messages and API requests refused by limits (413/429/504) are added to the
//!   [`Meter`] and written by [`crate::Store::flush_usage`] every few seconds; a SIGKILL loses at most the
//!   counts of the unflushed interval, a failed flush keeps them for the next one, and the meter holds at most
//!   [`METER_MAX_KEYS`] (project, hour) keys (beyond that, counts are dropped and [`Meter::dropped`] says how many).
//!
//! ```ignore
//! store.usage_meter().stream_message(&scope);
//! store.flush_usage().await?;                       // maintenance, every few seconds
//! let rows = store.usage(&UsageScope::Tenant("t1".into()), UsageGranularity::Day, from_ms, to_ms, 400).await?;
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sqlx::Row;

use crate::rollups::Outcome;
use crate::{Result, Scope, Store};

/// How long hour rows are kept: 13 months and a little.
pub const HOUR_RETENTION: Duration = Duration::from_secs(400 * 86_400);
/// How long day rows are kept: about 26 months.
pub const DAY_RETENTION: Duration = Duration::from_secs(800 * 86_400);
/// Most (project, hour) keys the in-memory meter holds between two flushes.
pub const METER_MAX_KEYS: usize = 10_000;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGranularity {
    Hour,
    Day,
}

impl UsageGranularity {
    pub fn seconds(self) -> i32 {
        match self {
            Self::Hour => 3600,
            Self::Day => 86_400,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// Whose usage: one project, or every project of a tenant summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageScope {
    Tenant(String),
    Project(Scope),
}

/// The counters of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Deliveries that finished (succeeded or were dead-lettered): once each, however many attempts.
    pub invocations: i64,
    /// Attempts that ended (every retry and every lost lease included).
    pub attempts: i64,
    /// Measured handler run time of those attempts, in milliseconds.
    pub exec_ms: f64,
    pub events: i64,
    pub payload_bytes: i64,
    pub stream_messages: i64,
    pub refused_413: i64,
    pub refused_429: i64,
    pub refused_504: i64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.invocations += o.invocations;
        self.attempts += o.attempts;
        self.exec_ms += o.exec_ms;
        self.events += o.events;
        self.payload_bytes += o.payload_bytes;
        self.stream_messages += o.stream_messages;
        self.refused_413 += o.refused_413;
        self.refused_429 += o.refused_429;
        self.refused_504 += o.refused_504;
    }
}

/// One bucket of usage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageRow {
    pub start_ms: i64,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Counts to add to `usage_counters`, per (project, resolution, bucket start).
#[derive(Default)]
pub(crate) struct Fold {
    map: HashMap<(Scope, i32, i64), Counts>,
}

impl Fold {
    /// Adds `c` at `at_ms` to the hour and the day bucket of the project.
    pub(crate) fn add(&mut self, scope: &Scope, at_ms: i64, c: &Counts) {
        for (res, ms) in [(3600, HOUR_MS), (86_400, DAY_MS)] {
            let start = at_ms.div_euclid(ms) * ms;
            self.map.entry((scope.clone(), res, start)).or_default().add(c);
        }
    }

    /// One ended attempt (a `step_outcomes` row).
    pub(crate) fn attempt(&mut self, scope: &Scope, outcome: Outcome, duration_ms: Option<f64>, at_ms: i64) {
        let finished = matches!(outcome, Outcome::Ok | Outcome::DeadLettered);
        let c = Counts {
            invocations: i64::from(finished),
            attempts: 1,
            exec_ms: duration_ms.filter(|d| d.is_finite() && *d >= 0.0).unwrap_or(0.0),
            ..Default::default()
        };
        self.add(scope, at_ms, &c);
    }

    /// Moves up to `limit` `usage_deltas` rows into the fold (deleting them on `conn`); returns how many.
    pub(crate) async fn take_deltas(&mut self, conn: &mut sqlx::PgConnection, limit: i64) -> Result<u64> {
        let rows = sqlx::query(
            "DELETE FROM usage_deltas WHERE id IN (
                SELECT id FROM usage_deltas ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING tenant_id, project_id, events, payload_bytes, (extract(epoch from at) * 1000)::int8",
        )
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        for r in &rows {
            let scope = Scope::new(r.get::<String, _>(0), r.get::<String, _>(1));
            let c = Counts {
                events: r.get(2),
                payload_bytes: r.get(3),
                ..Default::default()
            };
            self.add(&scope, r.get(4), &c);
        }
        Ok(rows.len() as u64)
    }

    /// Adds the fold to `usage_counters` (sorted by key, so concurrent writers lock rows in one order).
    pub(crate) async fn apply(self, conn: &mut sqlx::PgConnection) -> Result<()> {
        if self.map.is_empty() {
            return Ok(());
        }
        let mut rows: Vec<_> = self.map.into_iter().collect();
        rows.sort_by(|a, b| {
            (&a.0 .0.tenant, &a.0 .0.project, a.0 .1, a.0 .2).cmp(&(&b.0 .0.tenant, &b.0 .0.project, b.0 .1, b.0 .2))
        });
        let text = |f: fn(&Scope) -> &str| rows.iter().map(|((s, _, _), _)| f(s).to_string()).collect::<Vec<_>>();
        let col = |f: fn(&Counts) -> i64| rows.iter().map(|(_, c)| f(c)).collect::<Vec<i64>>();
        let res: Vec<i32> = rows.iter().map(|((_, r, _), _)| *r).collect();
        let starts: Vec<i64> = rows.iter().map(|((_, _, b), _)| *b).collect();
        let exec: Vec<f64> = rows.iter().map(|(_, c)| c.exec_ms).collect();
        sqlx::query(
            "INSERT INTO usage_counters (tenant_id, project_id, res, bucket_start, invocations, attempts, exec_ms,
                                        events, payload_bytes, stream_messages, refused_413, refused_429, refused_504)
             SELECT t, p, r, to_timestamp(b::float8 / 1000), i, a, x, e, pb, sm, r1, r2, r3
               FROM unnest($1::text[], $2::text[], $3::int[], $4::int8[], $5::int8[], $6::int8[], $7::float8[],
                           $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[])
                    AS u(t, p, r, b, i, a, x, e, pb, sm, r1, r2, r3)
             ON CONFLICT (tenant_id, project_id, res, bucket_start) DO UPDATE SET
                invocations = usage_counters.invocations + EXCLUDED.invocations,
                attempts = usage_counters.attempts + EXCLUDED.attempts,
                exec_ms = usage_counters.exec_ms + EXCLUDED.exec_ms,
                events = usage_counters.events + EXCLUDED.events,
                payload_bytes = usage_counters.payload_bytes + EXCLUDED.payload_bytes,
                stream_messages = usage_counters.stream_messages + EXCLUDED.stream_messages,
                refused_413 = usage_counters.refused_413 + EXCLUDED.refused_413,
                refused_429 = usage_counters.refused_429 + EXCLUDED.refused_429,
                refused_504 = usage_counters.refused_504 + EXCLUDED.refused_504",
        )
        .bind(text(|s| &s.tenant))
        .bind(text(|s| &s.project))
        .bind(&res)
        .bind(&starts)
        .bind(col(|c| c.invocations))
        .bind(col(|c| c.attempts))
        .bind(&exec)
        .bind(col(|c| c.events))
        .bind(col(|c| c.payload_bytes))
        .bind(col(|c| c.stream_messages))
        .bind(col(|c| c.refused_413))
        .bind(col(|c| c.refused_429))
        .bind(col(|c| c.refused_504))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// The in-memory part of the meter: counts since the last flush, per (project, hour bucket).
#[derive(Default)]
pub struct Meter {
    pending: Mutex<HashMap<(Scope, i64), Counts>>,
    dropped: AtomicU64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Meter {
    fn record(&self, scope: &Scope, at_ms: i64, c: Counts) {
        let hour = at_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let key = (scope.clone(), hour);
        if !pending.contains_key(&key) && pending.len() >= METER_MAX_KEYS {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.entry(key).or_default().add(&c);
    }

    /// A message announced on one of the project's streams (an item set or deleted, or a custom event).
    pub fn stream_message(&self, scope: &Scope) {
        self.record(
            scope,
            now_ms(),
            Counts {
                stream_messages: 1,
                ..Default::default()
            },
        );
    }

    /// A request of the project refused by a limit: `status` 413, 429 or 504 (other statuses are ignored).
    pub fn refused(&self, scope: &Scope, status: u16) {
        let c = match status {
            413 => Counts {
                refused_413: 1,
                ..Default::default()
            },
            429 => Counts {
                refused_429: 1,
                ..Default::default()
            },
            504 => Counts {
                refused_504: 1,
                ..Default::default()
            },
            _ => return,
        };
        self.record(scope, now_ms(), c);
    }

    /// Counts dropped because the meter was full (it holds [`METER_MAX_KEYS`] keys between flushes).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn take(&self) -> HashMap<(Scope, i64), Counts> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts counts whose flush failed back, for the next flush.
    fn restore(&self, counts: HashMap<(Scope, i64), Counts>) {
        for ((scope, hour), c) in counts {
            self.record(&scope, hour, c);
        }
    }
}

impl Store {
    /// The in-memory usage meter (stream messages, refusals) this store flushes.
    pub fn usage_meter(&self) -> &Meter {
        &self.usage
    }

    /// Writes the meter's counts to `usage_counters` in one statement; on failure they stay for the next call.
    /// Returns how many (project, hour) keys were written.
    pub async fn flush_usage(&self) -> Result<usize> {
        let pending = self.usage.take();
        if pending.is_empty() {
            return Ok(0);
        }
        let n = pending.len();
        let mut fold = Fold::default();
        for ((scope, hour), c) in &pending {
            fold.add(scope, *hour, c);
        }
        let written = match self.pool.acquire().await {
            Ok(mut conn) => fold.apply(&mut conn).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = written {
            self.usage.restore(pending);
            return Err(e);
        }
        Ok(n)
    }

    /// The usage buckets of a project or a tenant (its projects summed) that start in `[from_ms, to_ms)`, oldest
    /// first; at most `limit` rows.
    pub async fn usage(
        &self,
        scope: &UsageScope,
        granularity: UsageGranularity,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<UsageRow>> {
        let (tenant, project) = match scope {
            UsageScope::Tenant(t) => (t.as_str(), None),
            UsageScope::Project(s) => (s.tenant.as_str(), Some(s.project.as_str())),
        };
        let rows = sqlx::query(
            "SELECT (extract(epoch from bucket_start) * 1000)::int8, sum(invocations)::int8, sum(attempts)::int8,
                    sum(exec_ms)::float8, sum(events)::int8, sum(payload_bytes)::int8, sum(stream_messages)::int8,
                    sum(refused_413)::int8, sum(refused_429)::int8, sum(refused_504)::int8
               FROM usage_counters
              WHERE tenant_id = $1 AND ($2::text IS NULL OR project_id = $2) AND res = $3
                AND bucket_start >= to_timestamp($4 / 1000.0) AND bucket_start < to_timestamp($5 / 1000.0)
              GROUP BY bucket_start ORDER BY bucket_start LIMIT $6",
        )
        .bind(tenant)
        .bind(project)
        .bind(granularity.seconds())
        .bind(from_ms as f64)
        .bind(to_ms as f64)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| UsageRow {
                start_ms: r.get(0),
                counts: Counts {
                    invocations: r.get(1),
                    attempts: r.get(2),
                    exec_ms: r.get(3),
                    events: r.get(4),
                    payload_bytes: r.get(5),
                    stream_messages: r.get(6),
                    refused_413: r.get(7),
                    refused_429: r.get(8),
                    refused_504: r.get(9),
                },
            })
            .collect())
    }

    /// Deletes usage rows past their retention (at most 5,000 rows per call).
    pub async fn sweep_usage(&self, hour_retention: Duration, day_retention: Duration) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM usage_counters WHERE ctid IN (SELECT ctid FROM usage_counters
                WHERE (res = 3600 AND bucket_start < now() - make_interval(secs => $1))
                   OR (res = 86400 AND bucket_start < now() - make_interval(secs => $2)) LIMIT 5000)",
        )
        .bind(hour_retention.as_secs_f64())
        .bind(day_retention.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Usage not folded into the counters yet: `step_outcomes` and `usage_deltas` rows (tests, diagnostics).
    pub async fn usage_pending(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT (SELECT count(*) FROM usage_deltas) + (SELECT count(*) FROM step_outcomes)")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
