//! What the workbench reads besides the queues: traces, state, the flow layout file, and the live feed
//! (Server-Sent Events of log lines, spans and registration changes). See `docs/runtime-api.md`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::results::{
    Items, Lagged, Saved, StateDeleted, StateEntry, StateGroup, StateGroups, StateValue, Trace, Traces,
};
use crate::AppState;
use cfp_protocol::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/traces", get(traces))
        .route("/traces/{trace_id}", get(trace))
        .route("/state", get(state_groups))
        .route("/state/{group}", get(state_group))
        .route(
            "/state/{group}/{key}",
            axum::routing::put(state_put).delete(state_delete),
        )
        .route("/layout", get(layout_get).put(layout_put))
        .route("/live", get(live))
}

type Caller = (State<AppState>, ConnectInfo<SocketAddr>, HeaderMap, Uri);

#[derive(Deserialize)]
struct Limit {
    limit: Option<i64>,
}

async fn traces(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Query(q): Query<Limit>,
) -> Result<Json<Traces<cfp_store::spans::TraceSummary>>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "traces.read").await?;
    let traces = app
        .engine
        .store()
        .recent_traces(&access.scope, q.limit.unwrap_or(50))
        .await?;
    Ok(Json(Traces { traces }))
}

async fn trace(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Path(trace_id): Path<String>,
) -> Result<Json<Trace<cfp_store::spans::SpanRecord>>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "traces.read").await?;
    let spans = app.engine.store().trace_spans(&access.scope, &trace_id).await?;
    if spans.is_empty() {
        return Err(ApiError::not_found(format!(
            "no trace {trace_id} (it may still be running, or has expired)"
        )));
    }
    Ok(Json(Trace { trace_id, spans }))
}

async fn state_groups((State(app), ConnectInfo(peer), headers, uri): Caller) -> Result<Json<StateGroups>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "state.read").await?;
    let groups = app.engine.store().state_groups(&access.scope).await?;
    let groups = groups
        .into_iter()
        .map(|(group, keys)| StateGroup { group, keys })
        .collect();
    Ok(Json(StateGroups { groups }))
}

async fn state_group(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Path(group): Path<String>,
) -> Result<Json<Items<StateEntry<Value>>>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "state.read").await?;
    let items = app.engine.store().state_items(&access.scope, &group).await?;
    let items = items
        .into_iter()
        .map(|(key, value)| StateEntry { key, value })
        .collect();
    Ok(Json(Items { items }))
}

/// Edits one state value by hand (a diagnostic operation: `state.write`).
async fn state_put(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Path((group, key)): Path<(String, String)>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<StateValue<Value>>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "state.write").await?;
    let Json(value) = body.map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.body_text()))?;
    check_state_name("group", &group)?;
    check_state_name("key", &key)?;
    crate::error::refuse_nul("value", &value)?;
    let details = json!({ "group": group, "key": key, "bytes": value.to_string().len() });
    let target = ("state", Some(format!("{group}/{key}")));
    let audit = crate::audit::action_event(&access, peer, &headers, "state.write", target, details);
    app.engine
        .store()
        .state_set_audited(&access.scope, &group, &key, &value, &audit)
        .await?;
    tracing::info!(project = %access.scope.project, group, key, by = %access.principal.describe(), "state edited by hand");
    Ok(Json(StateValue { group, key, value }))
}

async fn state_delete(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    Path((group, key)): Path<(String, String)>,
) -> Result<Json<StateDeleted<Value>>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "state.write").await?;
    let details = json!({ "group": group, "key": key });
    let target = ("state", Some(format!("{group}/{key}")));
    let audit = crate::audit::action_event(&access, peer, &headers, "state.delete", target, details);
    match app
        .engine
        .store()
        .state_delete_audited(&access.scope, &group, &key, &audit)
        .await?
    {
        Some(old) => {
            tracing::info!(project = %access.scope.project, group, key, by = %access.principal.describe(), "state deleted by hand");
            Ok(Json(StateDeleted {
                deleted: StateValue { group, key, value: old },
            }))
        }
        None => Err(ApiError::not_found(format!(
            "no state value `{key}` in group `{group}`"
        ))),
    }
}

pub(crate) fn check_state_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 512 || name.contains('\0') {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("state {what} must be 1 to 512 characters without NUL"),
        ));
    }
    Ok(())
}

fn layout_path(app: &AppState) -> Result<&std::path::Path, ApiError> {
    app.cfg.layout_file.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::LayoutUnavailable,
            "this runtime has no layout file (--layout-file)",
        )
    })
}

async fn layout_get((State(app), ConnectInfo(peer), headers, uri): Caller) -> Result<Json<Value>, ApiError> {
    crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    let path = layout_path(&app)?;
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Json).map_err(|e| {
            ApiError::new(
                ErrorCode::LayoutInvalid,
                format!("{} is not valid JSON: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Json(json!([]))),
        Err(e) => Err(ApiError::internal(format!("reading {}: {e}", path.display()))),
    }
}

async fn layout_put(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Saved>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "flow.read").await?;
    // The layout file is the local project's (`cfp dev`): only its developer and the operator write it.
    if !matches!(
        access.principal,
        crate::auth::Principal::LocalDeveloper | crate::auth::Principal::Admin
    ) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "the flow layout is saved by the local developer in `cfp dev` only",
        ));
    }
    let path = layout_path(&app)?.to_path_buf();
    let Json(layout) = body.map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.body_text()))?;
    let text = serde_json::to_string_pretty(&layout).expect("JSON values serialize");
    // Write to a temporary file and rename, so a crash never leaves a half-written layout.
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, text.as_bytes())
        .await
        .map_err(|e| ApiError::internal(format!("writing {}: {e}", tmp.display())))?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| ApiError::internal(format!("renaming to {}: {e}", path.display())))?;
    Ok(Json(Saved { saved: true }))
}

#[derive(Deserialize)]
struct LiveQuery {
    access_token: Option<String>,
}

/// Server-Sent Events of the project's log lines, spans and registration changes.
async fn live(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut headers: HeaderMap,
    uri: Uri,
    Query(q): Query<LiveQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if let Some(token) = q.access_token.filter(|_| !headers.contains_key("authorization")) {
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            headers.insert("authorization", v);
        }
    }
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "logs.read").await?;
    let scope = access.scope.clone();
    let rx = app.engine.subscribe_live();
    // The feed ends, with a last `credential_ended` event, when the credential stops allowing `logs.read`.
    let held = crate::auth::Held {
        peer,
        headers,
        token: None,
        dev_trust: true,
        action: "logs.read",
    };
    let ended: std::pin::Pin<Box<dyn std::future::Future<Output = ApiError> + Send>> =
        Box::pin(crate::auth::credential_ended(app.clone(), access, held));
    let stream = futures_util::stream::unfold(Some((rx, ended)), move |state| {
        let scope = scope.clone();
        async move {
            let (mut rx, mut ended) = state?;
            loop {
                let next = tokio::select! {
                    next = rx.recv() => next,
                    e = &mut ended => {
                        let body = cfp_protocol::ErrorBody::new(e.code, e.message);
                        let data = serde_json::to_string(&body).expect("serializes");
                        return Some((Ok(Event::default().event("credential_ended").data(data)), None));
                    }
                };
                match next {
                    Ok(ev) if ev.scope == scope => {
                        let event = Event::default().event(ev.kind).data(ev.data.to_string());
                        return Some((Ok(event), Some((rx, ended))));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => {
                        // Tell the client it missed events so it can refetch.
                        let event = Event::default()
                            .event("lagged")
                            .data(serde_json::to_string(&Lagged { missed: n }).expect("serializes"));
                        return Some((Ok(event), Some((rx, ended))));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
