//! The step manifests each project registered. Subscriptions are read from here when events are published.

use cfp_protocol::{StepKind, StepManifest};
use serde_json::Value;
use sqlx::Row;

use crate::{Result, Scope, Store};

impl Store {
    /// Makes `steps` the project's registered set: upserts them and removes steps no longer present.
    pub async fn replace_steps(&self, scope: &Scope, steps: &[StepManifest]) -> Result<()> {
        self.replace_steps_audited(scope, steps, None).await
    }

    /// [`Store::replace_steps`] with the registration's audit entry queued in the same transaction.
    pub async fn replace_steps_audited(
        &self,
        scope: &Scope,
        steps: &[StepManifest],
        audit: Option<&cfp_audit::Event>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        sqlx::query("DELETE FROM steps WHERE tenant_id = $1 AND project_id = $2 AND name <> ALL($3)")
            .bind(&scope.tenant)
            .bind(&scope.project)
            .bind(&names)
            .execute(&mut *tx)
            .await?;
        for step in steps {
            let policy = step.queue_policy();
            let manifest = serde_json::to_value(step).expect("manifest serializes");
            let subscribes: Value = match step.kind {
                StepKind::Event => serde_json::to_value(&step.subscribes).expect("strings serialize"),
                _ => Value::Array(Vec::new()),
            };
            sqlx::query(
                "INSERT INTO steps (tenant_id, project_id, name, kind, file, subscribes, max_retries, delay_s, manifest)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (tenant_id, project_id, name) DO UPDATE SET kind = $4, file = $5, subscribes = $6,
                      max_retries = $7, delay_s = $8, manifest = $9, updated_at = now()",
            )
            .bind(&scope.tenant)
            .bind(&scope.project)
            .bind(&step.name)
            .bind(step.kind.as_str())
            .bind(&step.file)
            .bind(&subscribes)
            .bind(policy.max_retries as i32)
            .bind(policy.delay_s as i32)
            .bind(&manifest)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(e) = audit {
            crate::audit::audit_in(&mut tx, e).await?;
        }
        tx.commit().await?;
        if audit.is_some() {
            self.wake_audit().await;
        }
        Ok(())
    }

    pub async fn list_steps(&self, scope: &Scope) -> Result<Vec<StepManifest>> {
        let rows = sqlx::query("SELECT manifest FROM steps WHERE tenant_id = $1 AND project_id = $2 ORDER BY name")
            .bind(&scope.tenant)
            .bind(&scope.project)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_value(r.get::<Value, _>(0)).ok())
            .collect())
    }
}
