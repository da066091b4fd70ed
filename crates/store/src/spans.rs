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
    /// Stores finished attempts with one `COPY … FROM STDIN` (text format): no statement to plan, no arrays to
    /// build and unnest, the least work PostgreSQL does per row (see `docs/tracing.md`, "Built-in trace store").
    pub async fn insert_spans(&self, rows: &[(Scope, SpanRecord)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut buf = String::with_capacity(rows.len() * 200);
        for (scope, r) in rows {
            copy_text(&mut buf, Some(&scope.tenant));
            buf.push('\t');
            copy_text(&mut buf, Some(&scope.project));
            buf.push('\t');
            copy_text(&mut buf, Some(&r.trace_id));
            buf.push('\t');
            copy_text(&mut buf, Some(&r.step));
            buf.push('\t');
            copy_text(&mut buf, Some(&r.trigger));
            buf.push('\t');
            buf.push_str(&r.attempt.to_string());
            buf.push('\t');
            copy_text(&mut buf, r.invocation_id.as_deref());
            buf.push('\t');
            buf.push_str(&timestamp(r.started_ms));
            buf.push('\t');
            buf.push_str(&timestamp(r.ended_ms));
            buf.push('\t');
            buf.push(if r.ok { 't' } else { 'f' });
            buf.push('\t');
            copy_text(&mut buf, r.error.as_ref().map(|e| e.to_string()).as_deref());
            buf.push('\n');
        }
        // The COPY runs in a task of its own: a caller cancelled between `COPY … FROM STDIN` and `finish` (the
        // engine aborts its writers at shutdown) would otherwise leave the connection mid-COPY, the server waiting
        // for data forever and holding its locks (a DROP SCHEMA or a purge then blocks behind it).
        let pool = self.pool.clone();
        let copy = tokio::spawn(async move {
            use sqlx::postgres::PgPoolCopyExt;
            let mut copy = pool
                .copy_in_raw(
                    "COPY spans (tenant_id, project_id, trace_id, step, trigger, attempt, invocation_id, started_at,
                                 ended_at, ok, error) FROM STDIN",
                )
                .await?;
            if let Err(e) = copy.send(buf.into_bytes()).await {
                let _ = copy.abort("send failed").await;
                return Err(e);
            }
            copy.finish().await.map(|_| ())
        });
        match copy.await {
            Ok(r) => r.map_err(Into::into),
            Err(e) => Err(sqlx::Error::Protocol(format!("span COPY task failed: {e}")).into()),
        }
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

/// One field of COPY's text format: `\N` for NULL; backslash, tab, newline and carriage return escaped.
fn copy_text(buf: &mut String, v: Option<&str>) {
    let Some(v) = v else {
        buf.push_str("\\N");
        return;
    };
    if !v.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r' | 0)) {
        buf.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            // PostgreSQL text cannot hold U+0000 (the engine scrubs it earlier; this keeps COPY valid anyway).
            '\0' => buf.push('\u{fffd}'),
            c => buf.push(c),
        }
    }
}

/// A `timestamptz` literal (UTC, milliseconds) of a time in milliseconds since the Unix epoch.
fn timestamp(ms: i64) -> String {
    use chrono::{Datelike as _, Timelike as _};
    use std::fmt::Write as _;
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    if !(0..=9999).contains(&t.year()) {
        return t.format("%Y-%m-%d %H:%M:%S%.3f+00").to_string();
    }
    // Two per span written: no strftime parsing here.
    let mut s = String::with_capacity(26);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}+00",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes() {
        let mut b = String::new();
        copy_text(&mut b, Some("a\tb\\c\nd\re\0"));
        copy_text(&mut b, None);
        assert_eq!(b, "a\\tb\\\\c\\nd\\re\u{fffd}\\N");
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14 22:13:20.123+00");
        assert_eq!(timestamp(0), "1970-01-01 00:00:00.000+00");
        assert_eq!(timestamp(-1), "1969-12-31 23:59:59.999+00");
        let mut b = String::new();
        copy_text(&mut b, Some("plain é"));
        assert_eq!(b, "plain é");
    }
}
