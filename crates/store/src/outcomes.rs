//! Attempt ends recorded outside a queue transaction: API steps' invocations (docs/slo.md, "API steps").
//!
//! A queue delivery's end is a `step_outcomes` row written in the transaction that records it
//! ([`crate::rollups`]). An API step's invocation has no queue row and no transaction; the engine buffers its ends
//! in memory and hands them here in batches, with the time each ended, and the rollup job folds them like any other.

use crate::rollups::Outcome;
use crate::{Result, Scope, Store};

/// One API invocation's end.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRow {
    pub scope: Scope,
    pub step: String,
    pub outcome: Outcome,
    pub duration_ms: Option<f64>,
    /// When it ended (the bucket it is counted in).
    pub finished_ms: i64,
}

/// Rows per statement.
const CHUNK: usize = 5_000;

impl Store {
    /// Writes attempt ends into `step_outcomes` (one statement per 5,000 rows).
    pub async fn record_outcomes(&self, rows: &[OutcomeRow]) -> Result<()> {
        for chunk in rows.chunks(CHUNK) {
            let tenants: Vec<&str> = chunk.iter().map(|r| r.scope.tenant.as_str()).collect();
            let projects: Vec<&str> = chunk.iter().map(|r| r.scope.project.as_str()).collect();
            let steps: Vec<&str> = chunk.iter().map(|r| r.step.as_str()).collect();
            let outcomes: Vec<i16> = chunk.iter().map(|r| r.outcome as i16).collect();
            let durations: Vec<Option<f64>> = chunk.iter().map(|r| r.duration_ms).collect();
            let at: Vec<f64> = chunk.iter().map(|r| r.finished_ms as f64 / 1000.0).collect();
            sqlx::query(
                "INSERT INTO step_outcomes (tenant_id, project_id, step, outcome, duration_ms, finished_at)
                 SELECT t, p, s, o, d, to_timestamp(a)
                   FROM unnest($1::text[], $2::text[], $3::text[], $4::int2[], $5::float8[], $6::float8[])
                        AS u(t, p, s, o, d, a)",
            )
            .bind(&tenants)
            .bind(&projects)
            .bind(&steps)
            .bind(&outcomes)
            .bind(&durations)
            .bind(&at)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }
}
