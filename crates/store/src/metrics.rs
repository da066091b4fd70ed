//! What the runtime's queue gauges are computed from at scrape time (`cfp_queue_depth`,
//! `cfp_queue_oldest_ready_age_seconds`, `cfp_dlq_size`): two grouped reads over the partial index of waiting
//! deliveries and the dead-letter index, each bounded to `limit` groups.

use sqlx::Row;

use crate::{Result, Scope, Store};

/// The waiting deliveries of one step.
#[derive(Debug, Clone)]
pub struct QueueGauge {
    pub scope: Scope,
    pub step: String,
    /// Ready or delayed (not leased).
    pub depth: i64,
    /// Seconds since the oldest ready delivery became visible (0 when none is ready).
    pub oldest_ready_s: f64,
}

/// The dead letters of one step.
#[derive(Debug, Clone)]
pub struct DeadLetterGauge {
    pub scope: Scope,
    pub step: String,
    pub count: i64,
}

impl Store {
    /// Depth and oldest ready age per step with waiting deliveries, and dead letters per step; at most `limit`
    /// steps each (the largest first, so a cap keeps the ones that matter).
    pub async fn queue_gauges(&self, limit: i64) -> Result<(Vec<QueueGauge>, Vec<DeadLetterGauge>)> {
        let rows = sqlx::query(
            "SELECT tenant_id, project_id, step, count(*) AS depth,
                    COALESCE(extract(epoch from (now() - min(visible_at) FILTER (WHERE visible_at <= now()))), 0)::float8
               FROM queue WHERE status = 0
              GROUP BY tenant_id, project_id, step ORDER BY depth DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let queues = rows
            .iter()
            .map(|r| QueueGauge {
                scope: Scope::new(r.get::<String, _>(0), r.get::<String, _>(1)),
                step: r.get(2),
                depth: r.get(3),
                oldest_ready_s: r.get::<f64, _>(4).max(0.0),
            })
            .collect();
        let rows = sqlx::query(
            "SELECT tenant_id, project_id, step, count(*) AS n FROM dead_letters
              GROUP BY tenant_id, project_id, step ORDER BY n DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let dead = rows
            .iter()
            .map(|r| DeadLetterGauge {
                scope: Scope::new(r.get::<String, _>(0), r.get::<String, _>(1)),
                step: r.get(2),
                count: r.get(3),
            })
            .collect();
        Ok((queues, dead))
    }
}
