//! History and SLOs under `/__cfp/api` (docs/slo.md, docs/runtime-api.md): rollups, SLO status, alerts, their
//! history and their deliveries (read with `flow.read`, like the queues), and per-project SLO overrides
//! (`slo.write`, audited).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::get;
use axum::{Json, Router};
use cfp_protocol::slo::SloSpec;
use cfp_protocol::ErrorCode;
use cfp_store::rollups::Granularity;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

/// Most rollup rows one request returns.
const MAX_ROLLUP_ROWS: i64 = 10_000;
/// Longest step name accepted in a path (step names are at most this long everywhere).
const MAX_STEP: usize = 256;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rollups", get(rollups))
        .route("/slo", get(status))
        .route("/slo/alerts", get(alerts))
        .route("/slo/alerts/events", get(alert_events))
        .route("/slo/alerts/deliveries", get(alert_deliveries))
        .route("/slo/{step}", axum::routing::put(put_override).delete(delete_override))
}

type Caller = (State<AppState>, ConnectInfo<SocketAddr>, HeaderMap, Uri);

#[derive(Deserialize)]
struct RollupQuery {
    step: Option<String>,
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    limit: Option<i64>,
}

/// Milliseconds since the epoch from a number or an RFC 3339 time.
fn time_ms(field: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidBody,
                format!("`{field}` must be milliseconds since the epoch or an RFC 3339 time, got `{v}`"),
            )
        })
}

async fn rollups(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Query(q): Query<RollupQuery>,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    let granularity = match q.granularity.as_deref() {
        None => Granularity::Hour,
        Some(g) => Granularity::parse(g).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidBody,
                format!("`granularity` must be `minute` or `hour`, got `{g}`"),
            )
        })?,
    };
    let now = app.engine.config().clock.now().timestamp_millis();
    let to = q.to.as_deref().map(|v| time_ms("to", v)).transpose()?.unwrap_or(now);
    let span = match granularity {
        Granularity::Minute => 6 * 3600 * 1000,
        Granularity::Hour => 7 * 86_400 * 1000,
    };
    let from = q
        .from
        .as_deref()
        .map(|v| time_ms("from", v))
        .transpose()?
        .unwrap_or(to - span);
    if from >= to {
        return Err(ApiError::new(ErrorCode::InvalidBody, "`from` must be before `to`"));
    }
    let limit = q.limit.unwrap_or(MAX_ROLLUP_ROWS).clamp(1, MAX_ROLLUP_ROWS);
    let rows = app
        .engine
        .store()
        .rollups(&access.scope, q.step.as_deref(), from, to, granularity, limit)
        .await?;
    Ok(Json(json!({
        "granularity": if granularity == Granularity::Minute { "minute" } else { "hour" },
        "from": from,
        "to": to,
        "latencyBoundsMs": cfp_protocol::slo::LATENCY_BOUNDS_MS,
        "truncated": rows.len() as i64 == limit,
        "rollups": rows,
    })))
}

async fn status((State(app), ConnectInfo(peer), headers, uri): Caller) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    let policy = app.engine.config().slo.clone().unwrap_or_default();
    let now = app.engine.config().clock.now();
    let slos = cfp_engine::slo::project_status(app.engine.store(), &policy, &access.scope, now).await?;
    // The bounds of `cfp_step_duration_seconds` are fixed at start-up (the built-in ones and
    // `--metrics-extra-buckets`): `cfp slo rules` checks every latency threshold against them.
    let buckets = cfp_engine::metrics::duration_buckets(&app.engine.config().metrics.extra_buckets);
    Ok(Json(json!({
        "tenant": access.scope.tenant,
        "project": access.scope.project,
        "now": now.timestamp_millis(),
        "policy": { "rules": policy.rules, "minEvents": policy.min_events, "intervalSeconds": policy.interval.as_secs() },
        "slos": slos,
        "metrics": { "enabled": app.engine.metrics().is_some(), "durationBucketsSeconds": buckets },
    })))
}

#[derive(Deserialize)]
struct AlertsQuery {
    step: Option<String>,
    open: Option<bool>,
    before: Option<i64>,
    limit: Option<i64>,
}

async fn alerts(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    let alerts = app
        .engine
        .store()
        .alerts(
            &access.scope,
            q.step.as_deref(),
            q.open.unwrap_or(false),
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(json!({ "alerts": alerts })))
}

async fn alert_events(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    let events = app
        .engine
        .store()
        .alert_events(&access.scope, q.before, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(json!({ "events": events })))
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    status: Option<String>,
    limit: Option<i64>,
}

/// The project's alert deliveries (target, status, attempts, last error), newest first: targets by name only.
async fn alert_deliveries(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    if let Some(s) = q.status.as_deref() {
        if !["pending", "delivered", "skipped", "failed"].contains(&s) {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                format!("`status` must be pending, delivered, skipped or failed, got `{s}`"),
            ));
        }
    }
    let rows = app
        .engine
        .store()
        .alert_deliveries(
            &access.scope,
            q.status.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(
        json!({ "targets": app.engine.store().alert_targets().to_vec(), "deliveries": rows }),
    ))
}

fn check_step(step: &str) -> Result<(), ApiError> {
    if step.is_empty() || step.len() > MAX_STEP || step.contains('\0') {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("step name must be 1 to {MAX_STEP} bytes without NUL"),
        ));
    }
    Ok(())
}

/// Sets a project's SLO of a step: the body is an SLO object (docs/slo.md), or `null` to switch the step file's
/// SLO off for this project.
async fn put_override(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Path(step): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "slo.write").await?;
    check_step(&step)?;
    let Json(body) = body.map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.body_text()))?;
    let spec = match &body {
        Value::Null => None,
        v => Some(SloSpec::parse(v).map_err(|e| ApiError::new(ErrorCode::InvalidBody, e))?),
    };
    let stored = spec.as_ref().map(|s| serde_json::to_value(s).unwrap_or(Value::Null));
    let actor =
        crate::audit::action_event(&access, peer, &headers, "slo.override.set", ("step", None), json!({})).actor;
    let by = format!("{}:{}", actor.kind, actor.id.unwrap_or_default());
    app.engine
        .store()
        .set_slo_override(&access.scope, &step, stored.as_ref(), &by)
        .await?;
    crate::audit::record_action(
        &app,
        &access,
        peer,
        &headers,
        "slo.override.set",
        ("step", Some(step.clone())),
        json!({ "spec": stored }),
    )
    .await;
    Ok(Json(json!({ "step": step, "spec": stored })))
}

async fn delete_override(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Path(step): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "slo.write").await?;
    check_step(&step)?;
    if !app.engine.store().delete_slo_override(&access.scope, &step).await? {
        return Err(ApiError::not_found(format!("no SLO override for step `{step}`")));
    }
    crate::audit::record_action(
        &app,
        &access,
        peer,
        &headers,
        "slo.override.delete",
        ("step", Some(step.clone())),
        json!({}),
    )
    .await;
    Ok(Json(json!({ "deleted": step })))
}
