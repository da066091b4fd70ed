//! Durable per-step history: minute and hour rollups of finished attempts (docs/slo.md).
//!
//! Every finished attempt leaves one row in `step_outcomes`, written by the statement or transaction that records
//! the attempt's end in `queue` (`complete`, `fail`, lease reaping): a result that is not accepted (a late result
//! of an expired lease) writes nothing, and one that is accepted writes exactly one row, whatever crashes around
//! it. [`Store::roll_up`] then moves a batch of those rows into `step_rollups` — deleting them and adding their
//! counts in one transaction — so a crash mid-way rolls both back and the next run takes the same rows again:
//! every attempt is counted once. The minute buckets serve the alert windows (5 min to 6 h) and are kept
//! [`MINUTE_RETENTION`]; the hour buckets serve SLO windows and reports and are kept [`HOUR_RETENTION`].
//!
//! ```ignore
//! store.roll_up(10_000).await?;                      // maintenance, every few seconds
//! let rows = store.rollups(&scope, Some("step"), from_ms, to_ms, Granularity::Hour).await?;
//! ```

use std::collections::HashMap;
use std::time::Duration;

use sqlx::Row;

use crate::{Result, Scope, Store};

/// Upper bounds (milliseconds) of the latency histogram. Every bound of the Prometheus histogram
/// `cfp_step_duration_seconds` is here, and an SLO's latency threshold must be one of them (so the built-in
/// evaluator and generated Prometheus rules count the same requests as good).
pub use cfp_protocol::slo::LATENCY_BOUNDS_MS;

/// How long minute buckets are kept (the longest alert window they serve is 6 h; 3 d windows read hours).
pub const MINUTE_RETENTION: Duration = Duration::from_secs(4 * 86_400);
/// How long hour buckets are kept: 13 months and a little.
pub const HOUR_RETENTION: Duration = Duration::from_secs(400 * 86_400);

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok = 0,
    HandlerError = 1,
    Timeout = 2,
    LostWorker = 3,
    DeadLettered = 4,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::HandlerError,
        Outcome::Timeout,
        Outcome::LostWorker,
        Outcome::DeadLettered,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::HandlerError => "handler_error",
            Outcome::Timeout => "timeout",
            Outcome::LostWorker => "lost_worker",
            Outcome::DeadLettered => "dead_lettered",
        }
    }
}

/// The end of one attempt as the engine saw it: how it ended and how long the handler ran (`None`: not measured,
/// a lost lease).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttemptEnd {
    pub outcome: Outcome,
    pub duration_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Minute,
    Hour,
}

impl Granularity {
    pub fn seconds(self) -> i32 {
        match self {
            Granularity::Minute => 60,
            Granularity::Hour => 3600,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minute" | "1m" => Some(Self::Minute),
            "hour" | "1h" => Some(Self::Hour),
            _ => None,
        }
    }
}

/// One bucket of one step.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollup {
    pub step: String,
    pub start_ms: i64,
    pub total: i64,
    pub ok: i64,
    pub handler_error: i64,
    pub timeout: i64,
    pub lost_worker: i64,
    pub dead_lettered: i64,
    pub latency_count: i64,
    pub latency_sum_ms: f64,
    /// Cumulative counts per bound of [`LATENCY_BOUNDS_MS`].
    pub latency_le: Vec<i64>,
}

impl Rollup {
    /// Adds one attempt.
    pub fn add(&mut self, outcome: Outcome, duration_ms: Option<f64>) {
        if self.latency_le.is_empty() {
            self.latency_le = vec![0; LATENCY_BOUNDS_MS.len()];
        }
        self.total += 1;
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::HandlerError => self.handler_error += 1,
            Outcome::Timeout => self.timeout += 1,
            Outcome::LostWorker => self.lost_worker += 1,
            Outcome::DeadLettered => self.dead_lettered += 1,
        }
        if let Some(ms) = duration_ms.filter(|ms| ms.is_finite() && *ms >= 0.0) {
            self.latency_count += 1;
            self.latency_sum_ms += ms;
            for (i, bound) in LATENCY_BOUNDS_MS.iter().enumerate() {
                if ms <= f64::from(*bound) {
                    self.latency_le[i] += 1;
                }
            }
        }
    }
}

/// Index of `threshold_ms` in [`LATENCY_BOUNDS_MS`].
pub fn bound_index(threshold_ms: u32) -> Option<usize> {
    LATENCY_BOUNDS_MS.iter().position(|b| *b == threshold_ms)
}

fn outcome_of(code: i16) -> Outcome {
    match code {
        0 => Outcome::Ok,
        1 => Outcome::HandlerError,
        2 => Outcome::Timeout,
        3 => Outcome::LostWorker,
        _ => Outcome::DeadLettered,
    }
}

/// Bucket rows to add, as parallel arrays for one `unnest`.
#[derive(Default)]
pub(crate) struct Additions {
    tenants: Vec<String>,
    projects: Vec<String>,
    steps: Vec<String>,
    res: Vec<i32>,
    starts_ms: Vec<i64>,
    rows: Vec<Rollup>,
}

impl Additions {
    pub(crate) fn push(&mut self, scope: &Scope, res: i32, r: Rollup) {
        self.tenants.push(scope.tenant.clone());
        self.projects.push(scope.project.clone());
        self.steps.push(r.step.clone());
        self.res.push(res);
        self.starts_ms.push(r.start_ms);
        self.rows.push(r);
    }

    /// Adds the buckets to `step_rollups` (sorted by key, so concurrent writers lock rows in one order).
    pub(crate) async fn apply(self, conn: &mut sqlx::PgConnection) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&Rollup) -> i64| self.rows.iter().map(f).collect::<Vec<i64>>();
        let le: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{{{}}}",
                    r.latency_le.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        let sums: Vec<f64> = self.rows.iter().map(|r| r.latency_sum_ms).collect();
        sqlx::query(
            "INSERT INTO step_rollups (tenant_id, project_id, step, res, bucket_start, total, ok, handler_error, timeout,
                                       lost_worker, dead_lettered, latency_count, latency_sum_ms, latency_le)
             SELECT t, p, s, r, to_timestamp(b::float8 / 1000), n, o, he, tmo, lw, dl, lc, ls, le::bigint[]
               FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int8[], $6::int8[], $7::int8[],
                           $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::float8[], $14::text[])
                    AS u(t, p, s, r, b, n, o, he, tmo, lw, dl, lc, ls, le)
              ORDER BY t, p, s, r, b
             ON CONFLICT (tenant_id, project_id, step, res, bucket_start) DO UPDATE SET
                total = step_rollups.total + EXCLUDED.total,
                ok = step_rollups.ok + EXCLUDED.ok,
                handler_error = step_rollups.handler_error + EXCLUDED.handler_error,
                timeout = step_rollups.timeout + EXCLUDED.timeout,
                lost_worker = step_rollups.lost_worker + EXCLUDED.lost_worker,
                dead_lettered = step_rollups.dead_lettered + EXCLUDED.dead_lettered,
                latency_count = step_rollups.latency_count + EXCLUDED.latency_count,
                latency_sum_ms = step_rollups.latency_sum_ms + EXCLUDED.latency_sum_ms,
                latency_le = cfp_add_counts(step_rollups.latency_le, EXCLUDED.latency_le)",
        )
        .bind(&self.tenants)
        .bind(&self.projects)
        .bind(&self.steps)
        .bind(&self.res)
        .bind(&self.starts_ms)
        .bind(col(|r| r.total))
        .bind(col(|r| r.ok))
        .bind(col(|r| r.handler_error))
        .bind(col(|r| r.timeout))
        .bind(col(|r| r.lost_worker))
        .bind(col(|r| r.dead_lettered))
        .bind(col(|r| r.latency_count))
        .bind(&sums)
        .bind(&le)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Records attempt ends of queue rows, inside the caller's transaction (`seqs[i]` ended as `ends[i]`).
pub(crate) async fn record_on(conn: &mut sqlx::PgConnection, seqs: &[i64], ends: &[AttemptEnd]) -> Result<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    let outcomes: Vec<i16> = ends.iter().map(|e| e.outcome as i16).collect();
    let durations: Vec<Option<f64>> = ends.iter().map(|e| e.duration_ms).collect();
    sqlx::query(
        "INSERT INTO step_outcomes (tenant_id, project_id, step, outcome, duration_ms)
         SELECT q.tenant_id, q.project_id, q.step, u.o, u.d
           FROM unnest($1::int8[], $2::int2[], $3::float8[]) AS u(seq, o, d)
           JOIN queue q ON q.seq = u.seq",
    )
    .bind(seqs)
    .bind(&outcomes)
    .bind(&durations)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Moves up to `limit` finished attempts into the minute and hour buckets, and them and up to `limit`
    /// `usage_deltas` rows into the usage counters (crate::usage); returns the larger of the two counts. One
    /// transaction: the rows are deleted exactly when they are counted.
    pub async fn roll_up(&self, limit: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "DELETE FROM step_outcomes WHERE id IN (
                SELECT id FROM step_outcomes ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING tenant_id, project_id, step, outcome, duration_ms,
                       (extract(epoch from finished_at) * 1000)::int8 AS at_ms",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let n = rows.len() as u64;
        // Usage counters (crate::usage) are folded from the same rows, plus the events published meanwhile.
        let mut usage = crate::usage::Fold::default();
        let deltas = usage.take_deltas(&mut tx, limit).await?;
        if n == 0 && deltas == 0 {
            return Ok(0);
        }
        let mut buckets: HashMap<(Scope, String, i32, i64), Rollup> = HashMap::new();
        for r in &rows {
            let scope = Scope::new(r.get::<String, _>(0), r.get::<String, _>(1));
            let step: String = r.get(2);
            let outcome = outcome_of(r.get(3));
            let duration: Option<f64> = r.get(4);
            let at: i64 = r.get(5);
            usage.attempt(&scope, outcome, duration, at);
            for res in [60, 3600] {
                let start = at.div_euclid(i64::from(res) * 1000) * i64::from(res) * 1000;
                buckets
                    .entry((scope.clone(), step.clone(), res, start))
                    .or_insert_with(|| Rollup {
                        step: step.clone(),
                        start_ms: start,
                        ..Default::default()
                    })
                    .add(outcome, duration);
            }
        }
        let mut add = Additions::default();
        for ((scope, _, res, _), r) in buckets {
            add.push(&scope, res, r);
        }
        add.apply(&mut tx).await?;
        usage.apply(&mut tx).await?;
        tx.commit().await?;
        Ok(n.max(deltas))
    }

    /// Adds buckets directly (imports, synthetic data in tests and benchmarks).
    pub async fn add_rollups(&self, scope: &Scope, granularity: Granularity, rows: Vec<Rollup>) -> Result<()> {
        let mut add = Additions::default();
        for r in rows {
            add.push(scope, granularity.seconds(), r);
        }
        let mut conn = self.pool.acquire().await?;
        add.apply(&mut conn).await
    }

    /// Deletes buckets past their retention (at most 5,000 rows per call).
    pub async fn sweep_rollups(&self, minute_retention: Duration, hour_retention: Duration) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM step_rollups WHERE ctid IN (SELECT ctid FROM step_rollups
                WHERE (res = 60 AND bucket_start < now() - make_interval(secs => $1))
                   OR (res = 3600 AND bucket_start < now() - make_interval(secs => $2)) LIMIT 5000)",
        )
        .bind(minute_retention.as_secs_f64())
        .bind(hour_retention.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// The buckets of a project (one step or all) that start in `[from_ms, to_ms)`, oldest first; at most
    /// `limit` rows.
    pub async fn rollups(
        &self,
        scope: &Scope,
        step: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        granularity: Granularity,
        limit: i64,
    ) -> Result<Vec<Rollup>> {
        let rows = sqlx::query(
            "SELECT step, (extract(epoch from bucket_start) * 1000)::int8, total, ok, handler_error, timeout,
                    lost_worker, dead_lettered, latency_count, latency_sum_ms, latency_le
               FROM step_rollups
              WHERE tenant_id = $1 AND project_id = $2 AND ($3::text IS NULL OR step = $3) AND res = $4
                AND bucket_start >= to_timestamp($5 / 1000.0) AND bucket_start < to_timestamp($6 / 1000.0)
              ORDER BY bucket_start, step LIMIT $7",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(step)
        .bind(granularity.seconds())
        .bind(from_ms as f64)
        .bind(to_ms as f64)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Rollup {
                step: r.get(0),
                start_ms: r.get(1),
                total: r.get(2),
                ok: r.get(3),
                handler_error: r.get(4),
                timeout: r.get(5),
                lost_worker: r.get(6),
                dead_lettered: r.get(7),
                latency_count: r.get(8),
                latency_sum_ms: r.get(9),
                latency_le: r.get(10),
            })
            .collect())
    }

    /// Attempts finished but not rolled up yet.
    pub async fn outcomes_pending(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM step_outcomes")
            .fetch_one(&self.pool)
            .await?)
    }
}
