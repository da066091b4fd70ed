//! Replay protection of signed webhooks (docs/semantics.md): each accepted request's signature digest is kept
//! per project until it expires, so the same request is refused while it could still be replayed.

use crate::{Result, Scope, Store};

impl Store {
    /// Records a signed webhook request (by a digest of its signature) for `ttl_s` seconds. False when the same
    /// digest was recorded for the project and has not expired: the request is a replay.
    pub async fn webhook_claim(&self, scope: &Scope, digest: &[u8], ttl_s: u64) -> Result<bool> {
        let claimed: Option<i32> = sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (tenant_id, project_id, digest, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4::double precision))
             ON CONFLICT (tenant_id, project_id, digest) DO UPDATE SET expires_at = EXCLUDED.expires_at
               WHERE webhook_deliveries.expires_at < now()
             RETURNING 1",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(digest)
        .bind(ttl_s as f64)
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed.is_some())
    }

    /// Deletes expired webhook records (at most 5,000 per call).
    pub async fn sweep_webhooks(&self) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE ctid IN (SELECT ctid FROM webhook_deliveries
                WHERE expires_at < now() LIMIT 5000)",
        )
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }
}
