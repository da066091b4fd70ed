//! The runtime API under `/__cfp/api`: every route needs a principal (admin token, or the local developer
//! in dev mode); `emit` is a dev endpoint, off unless dev mode or `dev_endpoints` is on.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use cfp_store::logs::LogQuery;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::authenticate;
use crate::error::ApiError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/emit", post(emit))
        .route("/dlq", get(dlq_list))
        .route("/dlq/{id}/replay", post(dlq_replay))
        .route("/dlq/{id}", axum::routing::delete(dlq_discard))
        .route("/steps", get(steps))
        .route("/logs", get(logs))
        .route("/queues", get(queues))
        .merge(crate::observe::routes())
}

type Caller = (State<AppState>, ConnectInfo<SocketAddr>, HeaderMap);

pub(crate) fn check(app: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Result<(), ApiError> {
    authenticate(&app.cfg, peer, headers).map(|_| ())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EmitBody {
    topic: String,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    message_group_id: Option<String>,
}

async fn emit(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<EmitBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check(&app, peer, &headers)?;
    if !(app.cfg.dev || app.cfg.dev_endpoints) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "dev_endpoint_disabled",
            "emit is a dev endpoint; start the runtime with CFP_DEV_ENDPOINTS=true to enable it",
        ));
    }
    let Json(body) = body.map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))?;
    if body.topic.trim().is_empty() {
        return Err(ApiError::bad_request("invalid_body", "`topic` must not be empty"));
    }
    let trace_id = uuid::Uuid::new_v4().to_string();
    let scope = &app.cfg.default_scope;
    let event_id = app
        .engine
        .emit(scope, &body.topic, body.data, body.message_group_id, trace_id.clone())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "eventId": event_id, "traceId": trace_id })),
    ))
}

#[derive(Deserialize)]
struct DlqQuery {
    step: Option<String>,
    limit: Option<i64>,
}

async fn dlq_list(
    (State(app), ConnectInfo(peer), headers): Caller,
    Query(q): Query<DlqQuery>,
) -> Result<Json<Value>, ApiError> {
    check(&app, peer, &headers)?;
    let items = app
        .engine
        .store()
        .dead_letters(
            &app.cfg.default_scope,
            q.step.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(json!({ "items": items })))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", format!("dead-letter id `{id}` is not a number")))
}

async fn dlq_replay(
    (State(app), ConnectInfo(peer), headers): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check(&app, peer, &headers)?;
    let id = parse_id(&id)?;
    match app
        .engine
        .store()
        .replay_dead_letter(&app.cfg.default_scope, id)
        .await?
    {
        Some(woken) => {
            app.engine.wake(std::slice::from_ref(&woken));
            Ok(Json(json!({ "replayed": id, "step": woken.step })))
        }
        None => Err(ApiError::not_found(format!("no dead letter with id {id}"))),
    }
}

async fn dlq_discard(
    (State(app), ConnectInfo(peer), headers): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check(&app, peer, &headers)?;
    let id = parse_id(&id)?;
    if app
        .engine
        .store()
        .discard_dead_letter(&app.cfg.default_scope, id)
        .await?
    {
        Ok(Json(json!({ "discarded": id })))
    } else {
        Err(ApiError::not_found(format!("no dead letter with id {id}")))
    }
}

async fn steps((State(app), ConnectInfo(peer), headers): Caller) -> Result<Json<Value>, ApiError> {
    check(&app, peer, &headers)?;
    let steps = app.engine.store().list_steps(&app.cfg.default_scope).await?;
    Ok(Json(json!({ "steps": steps, "workers": app.engine.worker_count() })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsQuery {
    trace_id: Option<String>,
    step: Option<String>,
    level: Option<String>,
    q: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

async fn logs(
    (State(app), ConnectInfo(peer), headers): Caller,
    Query(q): Query<LogsQuery>,
) -> Result<Json<Value>, ApiError> {
    check(&app, peer, &headers)?;
    let query = LogQuery {
        trace_id: q.trace_id,
        step: q.step,
        level: q.level,
        search: q.q,
        after: q.after,
        limit: q.limit.unwrap_or(200),
    };
    let logs = app.engine.store().query_logs(&app.cfg.default_scope, &query).await?;
    Ok(Json(json!({ "logs": logs })))
}

async fn queues((State(app), ConnectInfo(peer), headers): Caller) -> Result<Json<Value>, ApiError> {
    check(&app, peer, &headers)?;
    let stats = app.engine.store().queue_stats(&app.cfg.default_scope).await?;
    Ok(Json(json!({ "queues": stats })))
}
