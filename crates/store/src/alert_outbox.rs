//! The outbox of SLO alert deliveries (migration `0012_alert_outbox.sql`, docs/slo.md "Delivery").
//!
//! A row's life: [`Store::apply_alert_changes`] writes one row per configured target for every transition, in the
//! transaction that writes the transition. A delivery round [`claim`](Store::claim_alert_deliveries)s due rows —
//! a lease committed before anything is sent: `attempts` + 1, `next_attempt_at` pushed past the request's timeout,
//! `lease_owner` set — so two runtimes never send the same row at the same time, and a runtime that dies
//! mid-attempt leaves the row due again when its lease ends (at least once; receivers de-duplicate by the
//! transition's id). The outcome is recorded by the lease holder only ([`Store::finish_alert_delivery`]):
//! delivered, retried later with a last error, given up after the attempt limit, or skipped (a target that takes
//! no such transition). The rows of one alert and target go out in order: a row is claimed only when no earlier
//! one of the same alert and target is still open.
//!
//! ```ignore
//! let store = store.with_alert_targets(vec!["webhook".into()]);
//! let due = store.claim_alert_deliveries("rt-1", &["webhook".into()], Duration::from_secs(15), 16).await?;
//! store.finish_alert_delivery(due[0].id, "rt-1", due[0].attempts, Finish::Delivered).await?;
//! ```

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;

use crate::slo::AlertRow;
use crate::{Result, Scope, Store};

/// A claimed delivery: the transition, its alert, and the attempt it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub target: String,
    /// This attempt's number (1 for the first).
    pub attempts: i32,
    /// The transition (`slo_alert_events.id`): receivers de-duplicate by it.
    pub event_id: i64,
    /// The transition's state: `pending`, `firing` or `resolved`.
    pub state: String,
    pub at_ms: i64,
    pub burn_long: f64,
    pub burn_short: f64,
    /// The alert as it is now (its `state` may be later than the transition's).
    pub alert: AlertRow,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Delivered,
    /// The target takes no such transition (e-mail and Alertmanager skip `pending`).
    Skipped,
    /// Failed; tried again after the delay, or (`None`) given up.
    Failed {
        error: String,
        retry_in: Option<Duration>,
    },
}

/// A delivery as the API shows it (no target secret: targets are named, never described).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: i64,
    pub alert_id: i64,
    pub target: String,
    /// `pending` (not yet delivered, will be tried), `delivered`, `skipped` or `failed` (given up).
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_ms: Option<i64>,
    pub delivered_ms: Option<i64>,
}

/// Longest stored error text (a target's answer is not kept whole).
const MAX_ERROR: usize = 500;

impl Store {
    /// This store with SLO alert transitions queued for these targets (names such as `webhook`, `email`,
    /// `alertmanager`); none by default.
    pub fn with_alert_targets(mut self, targets: Vec<String>) -> Self {
        self.alert_targets = targets.into();
        self
    }

    pub fn alert_targets(&self) -> Arc<[String]> {
        self.alert_targets.clone()
    }

    /// Claims up to `limit` due deliveries for `targets` under a lease of `lease` (committed before returning).
    pub async fn claim_alert_deliveries(
        &self,
        owner: &str,
        targets: &[String],
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        let rows = sqlx::query(
            "WITH due AS (
                SELECT o.id FROM alert_outbox o
                 WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= now()
                   AND o.target = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM alert_outbox e
                                    WHERE e.alert_id = o.alert_id AND e.target = o.target AND e.id < o.id
                                      AND e.delivered_at IS NULL AND e.failed_at IS NULL)
                 ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED),
             claimed AS (
                UPDATE alert_outbox o SET attempts = o.attempts + 1, lease_owner = $3,
                       next_attempt_at = now() + make_interval(secs => $4)
                  FROM due WHERE o.id = due.id
                RETURNING o.id, o.target, o.attempts, o.event_id)
             SELECT c.id, c.target, c.attempts, c.event_id, e.state, (extract(epoch from e.at) * 1000)::int8,
                    e.burn_long, e.burn_short,
                    a.id, a.tenant_id, a.project_id, a.step, a.sli, a.rule, a.severity, a.state, a.burn_long,
                    a.burn_short, (extract(epoch from a.started_at) * 1000)::int8,
                    (extract(epoch from a.fired_at) * 1000)::int8, (extract(epoch from a.resolved_at) * 1000)::int8
               FROM claimed c JOIN slo_alert_events e ON e.id = c.event_id JOIN slo_alerts a ON a.id = e.alert_id
              ORDER BY c.id",
        )
        .bind(targets)
        .bind(limit)
        .bind(owner)
        .bind(lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ClaimedDelivery {
                id: r.get(0),
                target: r.get(1),
                attempts: r.get(2),
                event_id: r.get(3),
                state: r.get(4),
                at_ms: r.get(5),
                burn_long: r.get(6),
                burn_short: r.get(7),
                alert: AlertRow {
                    id: r.get(8),
                    tenant: r.get(9),
                    project: r.get(10),
                    step: r.get(11),
                    sli: r.get(12),
                    rule: r.get(13),
                    severity: r.get(14),
                    state: r.get(15),
                    burn_long: r.get(16),
                    burn_short: r.get(17),
                    started_ms: r.get(18),
                    fired_ms: r.get(19),
                    resolved_ms: r.get(20),
                },
            })
            .collect())
    }

    /// Records an attempt's outcome; only the holder of the attempt's lease may (`false`: the lease was lost,
    /// the row belongs to a later attempt and nothing was written).
    pub async fn finish_alert_delivery(&self, id: i64, owner: &str, attempts: i32, finish: Finish) -> Result<bool> {
        let (delivered, skipped, failed, retry_secs, error) = match finish {
            Finish::Delivered => (true, false, false, 0.0, None),
            Finish::Skipped => (true, true, false, 0.0, None),
            Finish::Failed { error, retry_in } => {
                let mut e = error;
                if e.len() > MAX_ERROR {
                    let mut cut = MAX_ERROR;
                    while !e.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    e.truncate(cut);
                }
                (
                    false,
                    false,
                    retry_in.is_none(),
                    retry_in.map_or(0.0, |d| d.as_secs_f64()),
                    Some(e),
                )
            }
        };
        let r = sqlx::query(
            "UPDATE alert_outbox SET lease_owner = NULL,
                    delivered_at = CASE WHEN $4 THEN now() END,
                    skipped = $5,
                    failed_at = CASE WHEN $6 THEN now() END,
                    next_attempt_at = now() + make_interval(secs => $7),
                    last_error = COALESCE($8, last_error)
              WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND delivered_at IS NULL AND failed_at IS NULL",
        )
        .bind(id)
        .bind(owner)
        .bind(attempts)
        .bind(delivered)
        .bind(skipped)
        .bind(failed)
        .bind(retry_secs)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// A project's deliveries, newest first (`status` filters: `pending`, `delivered`, `skipped`, `failed`).
    pub async fn alert_deliveries(&self, scope: &Scope, status: Option<&str>, limit: i64) -> Result<Vec<DeliveryRow>> {
        let rows = sqlx::query(
            "SELECT * FROM (
                SELECT id, event_id, alert_id, target,
                       CASE WHEN skipped THEN 'skipped' WHEN delivered_at IS NOT NULL THEN 'delivered'
                            WHEN failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END AS status,
                       attempts, last_error,
                       CASE WHEN delivered_at IS NULL AND failed_at IS NULL
                            THEN (extract(epoch from next_attempt_at) * 1000)::int8 END,
                       (extract(epoch from delivered_at) * 1000)::int8
                  FROM alert_outbox WHERE tenant_id = $1 AND project_id = $2) d
              WHERE $3::text IS NULL OR d.status = $3
              ORDER BY id DESC LIMIT $4",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(status)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| DeliveryRow {
                id: r.get(0),
                event_id: r.get(1),
                alert_id: r.get(2),
                target: r.get(3),
                status: r.get(4),
                attempts: r.get(5),
                last_error: r.get(6),
                next_attempt_ms: r.get(7),
                delivered_ms: r.get(8),
            })
            .collect())
    }

    /// Deletes finished deliveries (delivered, skipped, given up) older than `keep`. Returns the rows deleted.
    pub async fn prune_alert_outbox(&self, keep: Duration) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM alert_outbox WHERE (delivered_at IS NOT NULL OR failed_at IS NOT NULL)
                AND created_at < now() - make_interval(secs => $1)",
        )
        .bind(keep.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }
}

/// Queues one transition for every configured target (inside the transition's transaction).
pub(crate) async fn queue_in(
    tx: &mut sqlx::PgConnection,
    targets: &[String],
    event_id: i64,
    alert_id: i64,
    scope: (&str, &str),
) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO alert_outbox (event_id, alert_id, tenant_id, project_id, target)
         SELECT $1, $2, $3, $4, t FROM unnest($5::text[]) t ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(alert_id)
    .bind(scope.0)
    .bind(scope.1)
    .bind(targets)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
