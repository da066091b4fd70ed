//! Deleted projects and the purge of their data.
//!
//! The control plane soft-deletes a project and tells every runtime (a `deleted: true` item in the settings
//! feed); the runtime records it here ([`Store::mark_project_deleted`], idempotent: every replica and every
//! restart may say it again) and, once the retention has passed, one replica purges everything the project
//! owns ([`Store::purge_due`]): its rows in every table and its payload objects. A replica claims a project for
//! [`CLAIM`] before purging it, so replicas never purge the same project at once and a purge interrupted by a
//! crash is taken up again. Rows go in batches of [`BATCH`] so that a large project never holds long locks.
//!
//! A write already under way when the project was deleted (a worker's last result, a request in flight) can land
//! after a purge that ran soon after the deletion (a short retention). So a project purged less than [`SETTLE`]
//! after its deletion is swept once more, [`SETTLE`] after the deletion (`swept_at`).
//!
//! ```ignore
//! store.mark_project_deleted(&scope).await?;
//! let purged = store.purge_due(Duration::from_secs(7 * 86_400), "rt-1").await?; // [(scope, rows)]
//! ```

use std::time::Duration;

use sqlx::Row;

use crate::{Result, Scope, Store};

/// The tables that hold a project's data, all keyed by `(tenant_id, project_id)`.
const TABLES: [&str; 15] = [
    "webhook_deliveries",
    "alert_outbox",
    "step_outcomes",
    "step_rollups",
    "slo_overrides",
    "slo_alert_events",
    "slo_alerts",
    "queue",
    "dead_letters",
    "state",
    "logs",
    "spans",
    "stream_items",
    "stream_defs",
    "steps",
];
/// The audit event of a purge: the project and the rows it removed.
pub type PurgeEvent = dyn Fn(&Scope, u64) -> cfp_audit::Event + Send + Sync;
/// Rows deleted per statement.
pub const BATCH: i64 = 5_000;
/// How long a replica holds a project it purges.
pub const CLAIM: Duration = Duration::from_secs(300);
/// How long after a project's deletion writes already under way for it may still land: every replica has learned
/// of the deletion (seconds) and dropped its workers, and what they were running has ended. A project purged
/// earlier than this is swept again once it has passed.
pub const SETTLE: Duration = Duration::from_secs(600);

impl Store {
    /// Records that a project was deleted (from now on, or as it was already recorded).
    pub async fn mark_project_deleted(&self, scope: &Scope) -> Result<()> {
        sqlx::query("INSERT INTO deleted_projects (tenant_id, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&scope.tenant)
            .bind(&scope.project)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a project was deleted (its data may still be there until purged).
    pub async fn is_project_deleted(&self, scope: &Scope) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM deleted_projects WHERE tenant_id = $1 AND project_id = $2")
            .bind(&scope.tenant)
            .bind(&scope.project)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Purges every project deleted longer than `retention` ago that no other replica is purging, and sweeps
    /// again those purged less than [`SETTLE`] after their deletion once it has passed; returns each purged or
    /// swept project with the number of rows removed.
    pub async fn purge_due(&self, retention: Duration, instance: &str) -> Result<Vec<(Scope, u64)>> {
        self.purge_due_audited(retention, instance, None).await
    }

    /// [`Store::purge_due`], each purge's completion committing with its audit entry (`audit(scope, rows)`).
    pub async fn purge_due_audited(
        &self,
        retention: Duration,
        instance: &str,
        audit: Option<&PurgeEvent>,
    ) -> Result<Vec<(Scope, u64)>> {
        let mut done = Vec::new();
        loop {
            let claimed = sqlx::query(
                "UPDATE deleted_projects SET purging_by = $1, purging_until = now() + make_interval(secs => $2)
                  WHERE (tenant_id, project_id) = (
                        SELECT tenant_id, project_id FROM deleted_projects
                         WHERE ((purged_at IS NULL AND deleted_at <= now() - make_interval(secs => $3))
                                OR (purged_at IS NOT NULL AND swept_at IS NULL
                                    AND purged_at < deleted_at + make_interval(secs => $4)
                                    AND deleted_at <= now() - make_interval(secs => $4)))
                           AND (purging_until IS NULL OR purging_until < now())
                         ORDER BY deleted_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                  RETURNING tenant_id, project_id",
            )
            .bind(instance)
            .bind(CLAIM.as_secs_f64())
            .bind(retention.as_secs_f64())
            .bind(SETTLE.as_secs_f64())
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = claimed else { return Ok(done) };
            let scope = Scope::new(row.get::<String, _>(0), row.get::<String, _>(1));
            let rows = self.purge(&scope).await?;
            self.payloads.remove_project(&scope).await?;
            // the first pass sets purged_at; a second one (purged_at already set) sets swept_at; the completion
            // and its audit entry commit together
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "UPDATE deleted_projects
                    SET purged_at = COALESCE(purged_at, now()),
                        swept_at = CASE WHEN purged_at IS NULL THEN NULL ELSE now() END,
                        purged_rows = COALESCE(purged_rows, 0) + $3, purging_by = NULL, purging_until = NULL
                  WHERE tenant_id = $1 AND project_id = $2",
            )
            .bind(&scope.tenant)
            .bind(&scope.project)
            .bind(rows as i64)
            .execute(&mut *tx)
            .await?;
            if let Some(event) = audit {
                crate::audit::audit_in(&mut tx, &event(&scope, rows)).await?;
            }
            tx.commit().await?;
            if audit.is_some() {
                self.wake_audit().await;
            }
            done.push((scope, rows));
        }
    }

    async fn purge(&self, scope: &Scope) -> Result<u64> {
        let mut total = 0;
        for table in TABLES {
            let sql = format!(
                "DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE tenant_id = $1 AND project_id = $2 LIMIT $3)"
            );
            loop {
                let n = sqlx::query(&sql)
                    .bind(&scope.tenant)
                    .bind(&scope.project)
                    .bind(BATCH)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                total += n;
                if n < BATCH as u64 {
                    break;
                }
            }
        }
        Ok(total)
    }
}
