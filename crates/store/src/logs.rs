//! Log lines of handlers and of the runtime, stored in batches and queried by trace, step and level.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::{Result, Scope, Store};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub ts_ms: i64,
    pub level: String,
    pub msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub trace_id: Option<String>,
    pub step: Option<String>,
    pub level: Option<String>,
    pub search: Option<String>,
    /// Only lines with a greater id (incremental tail).
    pub after: Option<i64>,
    pub limit: i64,
}

impl Store {
    pub async fn insert_logs(&self, rows: &[(Scope, LogRecord)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&(Scope, LogRecord)) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
        let tenants = col(|r| Some(r.0.tenant.clone()));
        let projects = col(|r| Some(r.0.project.clone()));
        let levels = col(|r| Some(r.1.level.clone()));
        let msgs = col(|r| Some(r.1.msg.clone()));
        let traces = col(|r| r.1.trace_id.clone());
        let steps = col(|r| r.1.step.clone());
        let invs = col(|r| r.1.invocation_id.clone());
        let ts: Vec<i64> = rows.iter().map(|r| r.1.ts_ms).collect();
        let data: Vec<Option<Value>> = rows.iter().map(|r| r.1.data.clone()).collect();
        sqlx::query(
            "INSERT INTO logs (tenant_id, project_id, ts, level, msg, trace_id, step, invocation_id, data)
             SELECT t, p, to_timestamp(ts / 1000.0), l, m, tr, s, i, d
               FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                           $8::text[], $9::jsonb[]) AS x(t, p, ts, l, m, tr, s, i, d)",
        )
        .bind(&tenants)
        .bind(&projects)
        .bind(&ts)
        .bind(&levels)
        .bind(&msgs)
        .bind(&traces)
        .bind(&steps)
        .bind(&invs)
        .bind(&data)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Newest-last log lines matching the query.
    pub async fn query_logs(&self, scope: &Scope, q: &LogQuery) -> Result<Vec<LogRecord>> {
        let search = q
            .search
            .as_ref()
            .map(|s| format!("%{}%", s.replace('%', "\\%").replace('_', "\\_")));
        let rows = sqlx::query(
            "SELECT * FROM (
               SELECT id, (extract(epoch from ts) * 1000)::bigint AS ts_ms, level, msg, trace_id, step,
                      invocation_id, data
                 FROM logs WHERE tenant_id = $1 AND project_id = $2
                  AND ($3::text IS NULL OR trace_id = $3) AND ($4::text IS NULL OR step = $4)
                  AND ($5::text IS NULL OR level = $5) AND ($6::text IS NULL OR msg ILIKE $6)
                  AND ($8::bigint IS NULL OR id > $8)
                ORDER BY id DESC LIMIT $7) x ORDER BY id",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(&q.trace_id)
        .bind(&q.step)
        .bind(&q.level)
        .bind(&search)
        .bind(q.limit.clamp(1, 5000))
        .bind(q.after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| LogRecord {
                id: Some(r.get("id")),
                ts_ms: r.get("ts_ms"),
                level: r.get("level"),
                msg: r.get("msg"),
                trace_id: r.get("trace_id"),
                step: r.get("step"),
                invocation_id: r.get("invocation_id"),
                data: r.get("data"),
            })
            .collect())
    }
}
