//! The runtime API of streams (under `/__cfp/api`, authenticated like every runtime API route):
//! `GET /streams` lists the project's streams with their groups and item counts, `GET /streams/{name}/{groupId}`
//! returns a group's items — only when the stream's `canAccess`, run as for a socket join, allows the caller.
//! Internal streams are never listed.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/streams", get(list))
        .route("/streams/{name}/{group_id}", get(group))
}

async fn list(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "state.read").await?;
    let streams = app.streams.list(&access.scope).await?;
    Ok(Json(json!({ "streams": streams })))
}

async fn group(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Path((name, group_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let access = crate::auth::access(&app, peer, &headers, uri.query(), "state.read").await?;
    let scope = &access.scope;
    let Some(manifest) = app.streams.find(scope, &name).await? else {
        return Err(ApiError::not_found(app.streams.unknown_stream(scope, &name).await));
    };
    // The stream's own rule applies here as on the socket: a group its canAccess refuses is not read.
    if manifest.has_can_access {
        let auth = crate::streams_ws::auth_context(&access.principal, peer);
        if !app.streams.check_access(scope, &name, &group_id, None, &auth, 0).await {
            return Err(ApiError::new(
                cfp_protocol::ErrorCode::StreamAccessDenied,
                format!("the canAccess of stream `{name}` refused group `{group_id}` to this caller"),
            ));
        }
    }
    let items = app.engine.store().stream_group(scope, &name, &group_id).await?;
    Ok(Json(json!({ "items": items })))
}
