//! SLO definitions as the evaluator sees them (step files merged with per-project overrides), the window sums it
//! reads from the rollups, and burn-rate alerts with their history (docs/slo.md).
//!
//! ```ignore
//! let slos = store.slo_definitions(None).await?;                 // every project's SLOs
//! let sums = store.window_sums(&keys, &windows, now_ms).await?;  // counts per SLO and window
//! store.apply_alert_changes(&changes).await?;                     // one transaction
//! ```

use std::collections::HashMap;

use serde_json::Value;
use sqlx::Row;

use crate::{Result, Scope, Store};

/// A step's SLO as stored: the step file's `config.slo`, or a project override (which wins).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SloDefinition {
    pub tenant: String,
    pub project: String,
    pub step: String,
    /// The SLO object (unchecked JSON: the caller parses it).
    pub spec: Value,
    /// `step` (the step file) or `override` (set through the API).
    pub source: &'static str,
}

/// One rollup window: its length and the buckets it is summed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub secs: i64,
    /// 60 (minute buckets) or 3600 (hour buckets).
    pub res: i32,
}

impl Window {
    /// Minute buckets up to 6 h, hour buckets beyond.
    pub fn of_secs(secs: i64) -> Self {
        Self {
            secs,
            res: if secs <= 6 * 3600 { 60 } else { 3600 },
        }
    }
}

/// Counts of one step over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sums {
    pub total: i64,
    pub errors: i64,
    pub latency_count: i64,
    /// Measured attempts within the SLO's latency threshold (0 without a latency objective).
    pub latency_good: i64,
}

/// The step whose windows are summed, and the 1-based index of its latency threshold in the histogram (0: none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SumKey {
    pub tenant: String,
    pub project: String,
    pub step: String,
    pub threshold_index: i32,
}

/// One rollup bucket of one key, as [`Store::bucket_sums`] reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSums {
    /// Index into the keys asked for.
    pub key: usize,
    /// 60 or 3600.
    pub res: i32,
    pub start_ms: i64,
    pub sums: Sums,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRow {
    pub id: i64,
    pub tenant: String,
    pub project: String,
    pub step: String,
    pub sli: String,
    pub rule: String,
    pub severity: String,
    pub state: String,
    pub burn_long: f64,
    pub burn_short: f64,
    pub started_ms: i64,
    pub fired_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
}

/// One transition of an alert.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertEvent {
    pub id: i64,
    pub alert_id: i64,
    pub step: String,
    pub sli: String,
    pub rule: String,
    pub severity: String,
    pub state: String,
    pub at_ms: i64,
    pub burn_long: f64,
    pub burn_short: f64,
}

/// A change the evaluator decided: open a new alert (`id: None`) or move an open one.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChange {
    pub id: Option<i64>,
    pub tenant: String,
    pub project: String,
    pub step: String,
    pub sli: String,
    pub rule: String,
    pub severity: String,
    /// The new state: `pending`, `firing` or `resolved`. A new alert may go straight to `firing`.
    pub state: String,
    pub burn_long: f64,
    pub burn_short: f64,
    pub at_ms: i64,
}

const ALERT_COLUMNS: &str = "id, tenant_id, project_id, step, sli, rule, severity, state, burn_long, burn_short,
    (extract(epoch from started_at) * 1000)::int8, (extract(epoch from fired_at) * 1000)::int8,
    (extract(epoch from resolved_at) * 1000)::int8";

fn alert_row(r: &sqlx::postgres::PgRow) -> AlertRow {
    AlertRow {
        id: r.get(0),
        tenant: r.get(1),
        project: r.get(2),
        step: r.get(3),
        sli: r.get(4),
        rule: r.get(5),
        severity: r.get(6),
        state: r.get(7),
        burn_long: r.get(8),
        burn_short: r.get(9),
        started_ms: r.get(10),
        fired_ms: r.get(11),
        resolved_ms: r.get(12),
    }
}

impl Store {
    /// The SLOs of one project or of every project not deleted: each step's `config.slo` unless an override
    /// replaces it (an override whose spec is null switches the step's SLO off).
    pub async fn slo_definitions(&self, scope: Option<&Scope>) -> Result<Vec<SloDefinition>> {
        let (t, p) = (scope.map(|s| s.tenant.as_str()), scope.map(|s| s.project.as_str()));
        let rows = sqlx::query(
            "SELECT COALESCE(o.tenant_id, s.tenant_id), COALESCE(o.project_id, s.project_id), COALESCE(o.step, s.name),
                    CASE WHEN o.step IS NULL THEN s.manifest->'slo' ELSE o.spec END, o.step IS NOT NULL
               FROM (SELECT * FROM steps WHERE manifest ? 'slo' AND ($1::text IS NULL OR (tenant_id = $1 AND project_id = $2))) s
               FULL JOIN (SELECT * FROM slo_overrides WHERE $1::text IS NULL OR (tenant_id = $1 AND project_id = $2)) o
                 ON o.tenant_id = s.tenant_id AND o.project_id = s.project_id AND o.step = s.name
              WHERE NOT EXISTS (SELECT 1 FROM deleted_projects d
                                 WHERE d.tenant_id = COALESCE(o.tenant_id, s.tenant_id)
                                   AND d.project_id = COALESCE(o.project_id, s.project_id))
              ORDER BY 1, 2, 3",
        )
        .bind(t)
        .bind(p)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let spec: Option<Value> = r.get(3);
                let spec = spec.filter(|v| !v.is_null())?;
                Some(SloDefinition {
                    tenant: r.get(0),
                    project: r.get(1),
                    step: r.get(2),
                    spec,
                    source: if r.get::<bool, _>(4) { "override" } else { "step" },
                })
            })
            .collect())
    }

    /// Sets (or, with `spec: None`, switches off) a step's SLO for a project.
    pub async fn set_slo_override(&self, scope: &Scope, step: &str, spec: Option<&Value>, by: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO slo_overrides (tenant_id, project_id, step, spec, updated_by) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id, project_id, step) DO UPDATE SET spec = EXCLUDED.spec,
                updated_by = EXCLUDED.updated_by, updated_at = now()",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(step)
        .bind(spec)
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a project's override of a step's SLO (the step file's applies again). False if there was none.
    pub async fn delete_slo_override(&self, scope: &Scope, step: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM slo_overrides WHERE tenant_id = $1 AND project_id = $2 AND step = $3")
            .bind(&scope.tenant)
            .bind(&scope.project)
            .bind(step)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Sums every key's rollups over every window ending at `now_ms` (buckets that start in
    /// `[now - window, now)`); a key without rollups gets zeros.
    pub async fn window_sums(
        &self,
        keys: &[SumKey],
        windows: &[Window],
        now_ms: i64,
    ) -> Result<HashMap<SumKey, Vec<Sums>>> {
        let mut out: HashMap<SumKey, Vec<Sums>> = keys
            .iter()
            .map(|k| (k.clone(), vec![Sums::default(); windows.len()]))
            .collect();
        if keys.is_empty() || windows.is_empty() {
            return Ok(out);
        }
        // Each bucket is summed once, into the class of the shortest window (of its resolution) that holds it;
        // a window's sums are then its class and the shorter classes' of the same resolution. Window lengths are
        // the evaluator's configuration (numbers), never request input; the bounds are written into the statement
        // as constants so that PostgreSQL compares plain timestamps per row.
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&i| (windows[i].res, windows[i].secs));
        let at = |secs: i64| format!("to_timestamp({}::float8 / 1000)", now_ms - secs * 1000);
        let longest = |res: i32| {
            windows
                .iter()
                .filter(|w| w.res == res)
                .map(|w| w.secs)
                .max()
                .unwrap_or(0)
        };
        let mut case = String::from("CASE");
        for &i in &order {
            let w = windows[i];
            case.push_str(&format!(
                " WHEN r.res = {} AND r.bucket_start >= {} THEN {i}",
                w.res,
                at(w.secs)
            ));
        }
        case.push_str(" END");
        let sql = format!(
            "WITH k AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])
                                       WITH ORDINALITY AS k(t, p, s, li, n))
             SELECT k.n, a.cls, a.total, a.errors, a.lc, a.lg
               FROM k CROSS JOIN LATERAL (
                    SELECT {case} AS cls, sum(r.total)::int8 AS total, sum(r.total - r.ok)::int8 AS errors,
                           sum(r.latency_count)::int8 AS lc,
                           COALESCE(sum(r.latency_le[k.li]) FILTER (WHERE k.li > 0), 0)::int8 AS lg
                      FROM (SELECT * FROM step_rollups
                             WHERE tenant_id = k.t AND project_id = k.p AND step = k.s AND res = 60
                               AND bucket_start >= {m_from} AND bucket_start < {now}
                            UNION ALL
                            SELECT * FROM step_rollups
                             WHERE tenant_id = k.t AND project_id = k.p AND step = k.s AND res = 3600
                               AND bucket_start >= {h_from} AND bucket_start < {now}) r
                     GROUP BY 1) a
              WHERE a.cls IS NOT NULL",
            now = at(0),
            m_from = at(longest(60)),
            h_from = at(longest(3600)),
        );
        let tenants: Vec<&str> = keys.iter().map(|k| k.tenant.as_str()).collect();
        let projects: Vec<&str> = keys.iter().map(|k| k.project.as_str()).collect();
        let steps: Vec<&str> = keys.iter().map(|k| k.step.as_str()).collect();
        let idx: Vec<i32> = keys.iter().map(|k| k.threshold_index).collect();
        let rows = sqlx::query(&sql)
            .persistent(false)
            .bind(&tenants)
            .bind(&projects)
            .bind(&steps)
            .bind(&idx)
            .fetch_all(&self.pool)
            .await?;
        for r in rows {
            let key = &keys[(r.get::<i64, _>(0) - 1) as usize];
            let class = windows[r.get::<i32, _>(1) as usize];
            let add = Sums {
                total: r.get(2),
                errors: r.get(3),
                latency_count: r.get(4),
                latency_good: r.get(5),
            };
            let sums = out.get_mut(key).expect("every key has an entry");
            for (i, w) in windows.iter().enumerate() {
                if w.res == class.res && w.secs >= class.secs {
                    sums[i].total += add.total;
                    sums[i].errors += add.errors;
                    sums[i].latency_count += add.latency_count;
                    sums[i].latency_good += add.latency_good;
                }
            }
        }
        Ok(out)
    }

    /// Every rollup bucket of each key that starts in `[from, now_ms)`, where `from` is the key's entry in
    /// `minute_from` for minute buckets and in `hour_from` for hour buckets (`i64::MAX`: none of that resolution).
    /// The evaluator's cache ([`crate::slo`] callers) reads only the buckets that may still change this way.
    pub async fn bucket_sums(
        &self,
        keys: &[SumKey],
        minute_from: &[i64],
        hour_from: &[i64],
        now_ms: i64,
    ) -> Result<Vec<BucketSums>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let tenants: Vec<&str> = keys.iter().map(|k| k.tenant.as_str()).collect();
        let projects: Vec<&str> = keys.iter().map(|k| k.project.as_str()).collect();
        let steps: Vec<&str> = keys.iter().map(|k| k.step.as_str()).collect();
        let idx: Vec<i32> = keys.iter().map(|k| k.threshold_index).collect();
        // Bounds as float seconds (a `timestamptz` compared per row, as in `window_sums`); i64::MAX means none.
        let secs = |v: &[i64]| -> Vec<f64> { v.iter().map(|&ms| ms.min(now_ms) as f64 / 1000.0).collect() };
        let rows = sqlx::query(
            "WITH k AS MATERIALIZED (
                  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::float8[], $6::float8[])
                           WITH ORDINALITY AS k(t, p, s, li, mf, hf, n))
             SELECT k.n, r.res, round(extract(epoch from r.bucket_start) * 1000)::int8, r.total::int8,
                    (r.total - r.ok)::int8, r.latency_count::int8,
                    COALESCE(CASE WHEN k.li > 0 THEN r.latency_le[k.li] END, 0)::int8
               FROM k CROSS JOIN LATERAL (
                    SELECT res, bucket_start, total, ok, latency_count, latency_le FROM step_rollups
                     WHERE tenant_id = k.t AND project_id = k.p AND step = k.s AND res = 60
                       AND bucket_start >= to_timestamp(k.mf) AND bucket_start < to_timestamp($7)
                    UNION ALL
                    SELECT res, bucket_start, total, ok, latency_count, latency_le FROM step_rollups
                     WHERE tenant_id = k.t AND project_id = k.p AND step = k.s AND res = 3600
                       AND bucket_start >= to_timestamp(k.hf) AND bucket_start < to_timestamp($7)) r",
        )
        .bind(&tenants)
        .bind(&projects)
        .bind(&steps)
        .bind(&idx)
        .bind(secs(minute_from))
        .bind(secs(hour_from))
        .bind(now_ms as f64 / 1000.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| BucketSums {
                key: (r.get::<i64, _>(0) - 1) as usize,
                res: r.get(1),
                start_ms: r.get(2),
                sums: Sums {
                    total: r.get(3),
                    errors: r.get(4),
                    latency_count: r.get(5),
                    latency_good: r.get(6),
                },
            })
            .collect())
    }

    /// Every open (pending or firing) alert.
    pub async fn open_alerts(&self) -> Result<Vec<AlertRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM slo_alerts WHERE resolved_at IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(alert_row).collect())
    }

    /// A project's alerts, newest first (`open_only`: pending and firing ones).
    pub async fn alerts(
        &self,
        scope: &Scope,
        step: Option<&str>,
        open_only: bool,
        limit: i64,
    ) -> Result<Vec<AlertRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM slo_alerts
              WHERE tenant_id = $1 AND project_id = $2 AND ($3::text IS NULL OR step = $3)
                AND (NOT $4 OR resolved_at IS NULL)
              ORDER BY id DESC LIMIT $5"
        ))
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(step)
        .bind(open_only)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(alert_row).collect())
    }

    /// A project's alert transitions, newest first, before `before` (an event id) when given.
    pub async fn alert_events(&self, scope: &Scope, before: Option<i64>, limit: i64) -> Result<Vec<AlertEvent>> {
        let rows = sqlx::query(
            "SELECT e.id, e.alert_id, a.step, a.sli, a.rule, a.severity, e.state,
                    (extract(epoch from e.at) * 1000)::int8, e.burn_long, e.burn_short
               FROM slo_alert_events e JOIN slo_alerts a ON a.id = e.alert_id
              WHERE e.tenant_id = $1 AND e.project_id = $2 AND ($3::int8 IS NULL OR e.id < $3)
              ORDER BY e.id DESC LIMIT $4",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AlertEvent {
                id: r.get(0),
                alert_id: r.get(1),
                step: r.get(2),
                sli: r.get(3),
                rule: r.get(4),
                severity: r.get(5),
                state: r.get(6),
                at_ms: r.get(7),
                burn_long: r.get(8),
                burn_short: r.get(9),
            })
            .collect())
    }

    /// Applies the evaluator's changes in one transaction, under a lock that makes one replica's cycle the only
    /// writer (`false`: another replica holds it; nothing was written). Each change is checked against the stored
    /// alert (a change for an alert that is no longer open, or a second open alert for the same key, is skipped),
    /// so a replayed cycle changes nothing. Every transition is queued for the audit chain (`slo.alert`) in the
    /// same transaction, and for every alert target ([`crate::alert_outbox`]). Returns the events written.
    pub async fn apply_alert_changes(&self, changes: &[AlertChange]) -> Result<Option<Vec<AlertEvent>>> {
        let mut tx = self.pool.begin().await?;
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('cfp_slo_alerts.' || current_schema()))")
                .fetch_one(&mut *tx)
                .await?;
        if !locked {
            return Ok(None);
        }
        let mut events = Vec::new();
        for c in changes {
            let at = c.at_ms as f64 / 1000.0;
            let alert_id: Option<i64> = match c.id {
                None => {
                    sqlx::query_scalar(
                        "INSERT INTO slo_alerts (tenant_id, project_id, step, sli, rule, severity, state, burn_long,
                                                 burn_short, started_at, fired_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10),
                                 CASE WHEN $7 = 'firing' THEN to_timestamp($10) END, to_timestamp($10))
                         ON CONFLICT (tenant_id, project_id, step, sli, rule) WHERE resolved_at IS NULL DO NOTHING
                         RETURNING id",
                    )
                    .bind(&c.tenant)
                    .bind(&c.project)
                    .bind(&c.step)
                    .bind(&c.sli)
                    .bind(&c.rule)
                    .bind(&c.severity)
                    .bind(&c.state)
                    .bind(c.burn_long)
                    .bind(c.burn_short)
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                Some(id) => sqlx::query_scalar(
                    "UPDATE slo_alerts SET state = $2, burn_long = $3, burn_short = $4, updated_at = to_timestamp($5),
                                fired_at = CASE WHEN $2 = 'firing' THEN to_timestamp($5) ELSE fired_at END,
                                resolved_at = CASE WHEN $2 = 'resolved' THEN to_timestamp($5) END
                          WHERE id = $1 AND resolved_at IS NULL AND state <> $2
                          RETURNING id",
                )
                .bind(id)
                .bind(&c.state)
                .bind(c.burn_long)
                .bind(c.burn_short)
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?,
            };
            let Some(alert_id) = alert_id else { continue };
            // A new alert that fires at once has both transitions in its history.
            let states: Vec<&str> = if c.id.is_none() && c.state == "firing" {
                vec!["pending", "firing"]
            } else {
                vec![c.state.as_str()]
            };
            for state in states {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO slo_alert_events (alert_id, tenant_id, project_id, state, at, burn_long, burn_short)
                     VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7) RETURNING id",
                )
                .bind(alert_id)
                .bind(&c.tenant)
                .bind(&c.project)
                .bind(state)
                .bind(at)
                .bind(c.burn_long)
                .bind(c.burn_short)
                .fetch_one(&mut *tx)
                .await?;
                let mut audit = cfp_audit::Event::new("slo.alert", cfp_audit::Actor::system());
                audit.tenant = Some(c.tenant.clone());
                audit.project = Some(c.project.clone());
                audit.target = Some(("step".into(), Some(c.step.clone())));
                for (k, v) in [
                    ("alertId", serde_json::json!(alert_id)),
                    ("state", serde_json::json!(state)),
                    ("sli", serde_json::json!(c.sli)),
                    ("rule", serde_json::json!(c.rule)),
                    ("severity", serde_json::json!(c.severity)),
                    ("burnLong", serde_json::json!(c.burn_long)),
                    ("burnShort", serde_json::json!(c.burn_short)),
                ] {
                    audit.details.insert(k.into(), v);
                }
                crate::audit::audit_in(&mut tx, &audit).await?;
                // Delivered to every alert target from the outbox, committed with the transition.
                crate::alert_outbox::queue_in(&mut tx, &self.alert_targets, id, alert_id, (&c.tenant, &c.project))
                    .await?;
                events.push(AlertEvent {
                    id,
                    alert_id,
                    step: c.step.clone(),
                    sli: c.sli.clone(),
                    rule: c.rule.clone(),
                    severity: c.severity.clone(),
                    state: state.to_string(),
                    at_ms: c.at_ms,
                    burn_long: c.burn_long,
                    burn_short: c.burn_short,
                });
            }
        }
        tx.commit().await?;
        Ok(Some(events))
    }
}
