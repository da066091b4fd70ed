//! The runtime API under `/__cfp/api`: every route authenticates the caller, selects the project
//! (`X-CFP-Project` or `?project=`, else the runtime's default) and checks one action of the permission matrix
//! (`crate::auth`); `emit` and the dead-letter operations are diagnostic: off unless dev endpoints are on.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use cfp_store::logs::LogQuery;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::results::{Discarded, Emitted, Items, Logs, Queues, Replayed, Steps};
use crate::AppState;
use cfp_protocol::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/emit", post(emit))
        .route("/dlq", get(dlq_list))
        .route("/dlq/{id}/replay", post(dlq_replay))
        .route("/dlq/{id}", axum::routing::delete(dlq_discard))
        .route("/steps", get(steps))
        .route("/steps/{name}/source", get(crate::source::step_source))
        .route("/logs", get(logs))
        .route("/queues", get(queues))
        .merge(crate::observe::routes())
        .merge(crate::slo::routes())
        .merge(crate::usage::routes())
}

type Caller = (State<AppState>, ConnectInfo<SocketAddr>, HeaderMap, Uri);

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
    uri: Uri,
    body: Result<Json<EmitBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Emitted<uuid::Uuid>>), ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "emit").await?;
    let Json(body) = body.map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.body_text()))?;
    if body.topic.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidBody, "`topic` must not be empty"));
    }
    crate::error::refuse_nul("topic", &Value::String(body.topic.clone()))?;
    crate::error::refuse_nul("data", &body.data)?;
    if let Some(group) = &body.message_group_id {
        crate::error::refuse_nul("messageGroupId", &Value::String(group.clone()))?;
    }
    let trace_id = uuid::Uuid::new_v4().to_string();
    let scope = &access.scope;
    let mut warning = None;
    if let Err(problem) = app.engine.check_event(scope, &body.topic, &body.data) {
        if app.engine.strict_validation(scope) {
            return Err(ApiError::new(ErrorCode::InvalidEvent, problem));
        }
        warning = Some(format!("{problem} (strict validation is off: delivered anyway)"));
    }
    let bytes = body.data.to_string().len();
    let topic = body.topic.clone();
    // the entry (its `event_id` added by the engine) commits with the event's queue rows
    let details = json!({ "topic": topic, "bytes": bytes });
    let audit = crate::audit::action_event(&access, peer, &headers, "event.emit", ("topic", Some(topic)), details);
    let event_id = app
        .engine
        .emit_audited(
            scope,
            &body.topic,
            body.data,
            body.message_group_id,
            trace_id.clone(),
            audit,
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Emitted {
            event_id,
            trace_id,
            warning,
        }),
    ))
}

#[derive(Deserialize)]
struct DlqQuery {
    step: Option<String>,
    limit: Option<i64>,
}

async fn dlq_list(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Query(q): Query<DlqQuery>,
) -> Result<Json<Items<cfp_store::queue::DeadLetter>>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "dlq.read").await?;
    let items = app
        .engine
        .store()
        .dead_letters(&access.scope, q.step.as_deref(), q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(Items { items }))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::new(ErrorCode::InvalidId, format!("dead-letter id `{id}` is not a number")))
}

async fn dlq_replay(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Path(id): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "dlq.replay").await?;
    let id = parse_id(&id)?;
    let details = json!({ "topic": null, "count": 1 });
    let audit = crate::audit::action_event(
        &access,
        peer,
        &headers,
        "dlq.replay",
        ("dlq", Some(id.to_string())),
        details,
    );
    match app.engine.replay_dead_letter(&access.scope, id, &audit).await? {
        Some(step) => Ok(Json(Replayed { replayed: id, step })),
        None => Err(ApiError::not_found(format!("no dead letter with id {id}"))),
    }
}

async fn dlq_discard(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Path(id): Path<String>,
) -> Result<Json<Discarded>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "dlq.replay").await?;
    let id = parse_id(&id)?;
    let details = json!({ "topic": null, "count": 1 });
    let audit = crate::audit::action_event(
        &access,
        peer,
        &headers,
        "dlq.discard",
        ("dlq", Some(id.to_string())),
        details,
    );
    if app.engine.discard_dead_letter(&access.scope, id, &audit).await? {
        Ok(Json(Discarded { discarded: id }))
    } else {
        Err(ApiError::not_found(format!("no dead letter with id {id}")))
    }
}

async fn steps(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
) -> Result<Json<Steps<cfp_protocol::StepManifest>>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    let steps = app.engine.store().list_steps(&access.scope).await?;
    Ok(Json(Steps {
        steps,
        workers: app.engine.worker_count(),
    }))
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
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Query(q): Query<LogsQuery>,
) -> Result<Json<Logs<cfp_store::logs::LogRecord>>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "logs.read").await?;
    let query = LogQuery {
        trace_id: q.trace_id,
        step: q.step,
        level: q.level,
        search: q.q,
        after: q.after,
        limit: q.limit.unwrap_or(200),
    };
    let logs = app.engine.store().query_logs(&access.scope, &query).await?;
    Ok(Json(Logs { logs }))
}

async fn queues(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
) -> Result<Json<Queues<cfp_store::queue::QueueStats>>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    let stats = app.engine.store().queue_stats(&access.scope).await?;
    Ok(Json(Queues { queues: stats }))
}
