//! Finished invocation attempts ("spans"), grouped into traces for the workbench's timeline.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::{Result, Scope, Store};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpanRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub trace_id: String,
    pub step: String,
    pub trigger: String,
    pub attempt: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceSummary {
    pub trace_id: String,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub status: &'static str,
    pub steps: Vec<String>,
    pub spans: i64,
}

impl Store {
    pub async fn insert_spans(&self, rows: &[(Scope, SpanRecord)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let tenants: Vec<&str> = rows.iter().map(|r| r.0.tenant.as_str()).collect();
        let projects: Vec<&str> = rows.iter().map(|r| r.0.project.as_str()).collect();
        let traces: Vec<&str> = rows.iter().map(|r| r.1.trace_id.as_str()).collect();
        let steps: Vec<&str> = rows.iter().map(|r| r.1.step.as_str()).collect();
        let triggers: Vec<&str> = rows.iter().map(|r| r.1.trigger.as_str()).collect();
        let attempts: Vec<i32> = rows.iter().map(|r| r.1.attempt).collect();
        let invs: Vec<Option<&str>> = rows.iter().map(|r| r.1.invocation_id.as_deref()).collect();
        let started: Vec<i64> = rows.iter().map(|r| r.1.started_ms).collect();
        let ended: Vec<i64> = rows.iter().map(|r| r.1.ended_ms).collect();
        let oks: Vec<bool> = rows.iter().map(|r| r.1.ok).collect();
        let errors: Vec<Option<Value>> = rows.iter().map(|r| r.1.error.clone()).collect();
        sqlx::query(
            "INSERT INTO spans (tenant_id, project_id, trace_id, step, trigger, attempt, invocation_id, started_at,
                                ended_at, ok, error)
             SELECT t, p, tr, s, tg, a, i, to_timestamp(st / 1000.0), to_timestamp(en / 1000.0), ok, e
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
                           $8::bigint[], $9::bigint[], $10::bool[], $11::jsonb[])
                 AS x(t, p, tr, s, tg, a, i, st, en, ok, e)",
        )
        .bind(&tenants)
        .bind(&projects)
        .bind(&traces)
        .bind(&steps)
        .bind(&triggers)
        .bind(&attempts)
        .bind(&invs)
        .bind(&started)
        .bind(&ended)
        .bind(&oks)
        .bind(&errors)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The most recent traces, newest first.
    pub async fn recent_traces(&self, scope: &Scope, limit: i64) -> Result<Vec<TraceSummary>> {
        let rows = sqlx::query(
            "WITH recent AS (
                SELECT trace_id, max(id) AS last_id FROM spans
                 WHERE tenant_id = $1 AND project_id = $2
                 GROUP BY trace_id ORDER BY max(id) DESC LIMIT $3)
             SELECT s.trace_id,
                    (extract(epoch from min(s.started_at)) * 1000)::bigint AS started_ms,
                    (extract(epoch from max(s.ended_at)) * 1000)::bigint AS ended_ms,
                    bool_or(NOT s.ok) AS any_error,
                    array_agg(DISTINCT s.step) AS steps,
                    count(*) AS spans,
                    max(r.last_id) AS last_id
               FROM spans s JOIN recent r ON r.trace_id = s.trace_id
              WHERE s.tenant_id = $1 AND s.project_id = $2
              GROUP BY s.trace_id ORDER BY last_id DESC",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| TraceSummary {
                trace_id: r.get("trace_id"),
                started_ms: r.get("started_ms"),
                ended_ms: r.get("ended_ms"),
                status: if r.get::<bool, _>("any_error") { "error" } else { "ok" },
                steps: r.get("steps"),
                spans: r.get("spans"),
            })
            .collect())
    }

    /// Every span of one trace, in start order.
    pub async fn trace_spans(&self, scope: &Scope, trace_id: &str) -> Result<Vec<SpanRecord>> {
        let rows = sqlx::query(
            "SELECT id, trace_id, step, trigger, attempt, invocation_id,
                    (extract(epoch from started_at) * 1000)::bigint AS started_ms,
                    (extract(epoch from ended_at) * 1000)::bigint AS ended_ms, ok, error
               FROM spans WHERE tenant_id = $1 AND project_id = $2 AND trace_id = $3
              ORDER BY started_at, id LIMIT 10000",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(trace_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| SpanRecord {
                id: Some(r.get("id")),
                trace_id: r.get("trace_id"),
                step: r.get("step"),
                trigger: r.get("trigger"),
                attempt: r.get("attempt"),
                invocation_id: r.get("invocation_id"),
                started_ms: r.get("started_ms"),
                ended_ms: r.get("ended_ms"),
                ok: r.get("ok"),
                error: r.get("error"),
            })
            .collect())
    }

    /// Deletes logs and spans older than `retention_s` (in bounded batches).
    pub async fn sweep_observability(&self, retention_s: u64) -> Result<u64> {
        let mut n = 0;
        for table in ["logs", "spans"] {
            let ts = if table == "logs" { "ts" } else { "ended_at" };
            let sql = format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table}
                  WHERE {ts} < now() - make_interval(secs => $1::double precision) LIMIT 10000)"
            );
            n += sqlx::query(&sql)
                .bind(retention_s as f64)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(n)
    }
}
