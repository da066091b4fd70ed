//! The health of the runtime's audit chains (docs/runtime-api.md "Audit"): `GET /__cfp/api/audit/status` — whether
//! the runtime anchors, its last anchor and its last verification of every chain — and `POST
//! /__cfp/api/audit/verify`, which verifies every chain now (one run at a time across replicas) and records the run
//! like the scheduled ones (`audit_verifications` and an `audit.verify` entry, with the caller as actor).
//!
//! Both concern every chain of the runtime, so they are the operator's (admin token, local developer) with
//! `audit.runtime.read`; a project's user gets `403 forbidden`. The answers have the control plane's shapes
//! (`GET /v1/audit/status`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use cfp_protocol::ErrorCode;
use serde_json::{json, Value};

use crate::auth::{Access, Principal};
use crate::error::ApiError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit/status", get(status))
        .route("/audit/verify", post(verify))
}

async fn operator(app: &AppState, peer: SocketAddr, headers: &HeaderMap, uri: &Uri) -> Result<Access, ApiError> {
    let access = crate::auth::access(app, peer, headers, uri.query(), crate::audit::READ).await?;
    if !matches!(access.principal, Principal::Admin | Principal::LocalDeveloper) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "the audit status covers every chain of this runtime: it is the operator's (admin token or local developer)",
        ));
    }
    Ok(access)
}

async fn status(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    operator(&app, peer, &headers, &uri).await?;
    let store = app.engine.store();
    Ok(Json(json!({
        "anchoring": app.cfg.audit_anchoring,
        "lastAnchor": store.audit_last_anchor().await?,
        "lastVerification": store.audit_last_verification().await?,
    })))
}

async fn verify(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let access = operator(&app, peer, &headers, &uri).await?;
    let (actor, _) = crate::audit::actor(&access.principal);
    let store = app.engine.store();
    match store.audit_verify_turn(actor).await? {
        Some(_) => Ok(Json(store.audit_last_verification().await?.unwrap_or(Value::Null))),
        None => Err(ApiError::new(
            ErrorCode::LimitExceeded,
            "a verification of the audit chains is running (here or on another replica); retry when it has finished",
        )),
    }
}
