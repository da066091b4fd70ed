//! `/metrics` (Prometheus exposition, `docs/metrics.md`) and the counters the gateway records: API requests
//! refused by a limit and authentication failures.
//!
//! Who may scrape: with `--metrics-token`, only a request bearing it (compared in constant time), on either
//! listener. Without it, the separate `--metrics-listen` listener is open (bind it to an address only Prometheus
//! reaches) and the main listener does not serve `/metrics` at all; with neither, `/metrics` on the main listener
//! needs the admin token (or, under `cfp dev`, a loopback caller, like every other endpoint in dev mode).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cfp_engine::Engine;
use cfp_protocol::ErrorCode;
use cfp_store::Scope;

use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::AppState;

/// The exposition's content type (OpenMetrics text, which Prometheus prefers).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The router of the separate metrics listener (`--metrics-listen`): `/metrics` and `/__cfp/health` only.
pub fn listener_router(engine: Engine, token: Option<String>) -> Router {
    let state = Separate { engine, token };
    Router::new()
        .route("/metrics", get(separate))
        .route(
            "/__cfp/health",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .fallback(|| async { ApiError::new(ErrorCode::NoEndpoint, "this listener serves /metrics only") })
        .with_state(state)
}

#[derive(Clone)]
struct Separate {
    engine: Engine,
    token: Option<String>,
}

async fn separate(State(s): State<Separate>, headers: HeaderMap) -> Response {
    if let Some(expected) = &s.token {
        if let Some(e) = check_token(&s.engine, &headers, expected) {
            return e;
        }
    }
    exposition(&s.engine).await
}

/// Checks the metrics token (`None`: it matches); a refusal is counted here (`metrics_token`) and marked so that it is not counted
/// again by [`count_auth_failures`].
fn check_token(engine: &Engine, headers: &HeaderMap, expected: &str) -> Option<Response> {
    let given = auth::bearer(headers).unwrap_or("");
    if !given.is_empty() && cfp_engine::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return None;
    }
    if let Some(m) = engine.metrics() {
        m.auth_failure("metrics_token");
    }
    let mut res = ApiError::new(
        ErrorCode::Unauthenticated,
        "the metrics endpoint needs `Authorization: Bearer <metrics token>`",
    )
    .into_response();
    res.extensions_mut().insert(Counted);
    Some(res)
}

/// `/metrics` on the main listener (routed only when metrics are on and no separate listener is configured).
pub async fn main_listener(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(expected) = &app.cfg.metrics_token {
        if let Some(e) = check_token(&app.engine, &headers, expected) {
            return e;
        }
        return exposition(&app.engine).await;
    }
    match auth::authenticate(&app, peer, &headers, None, true).await {
        Ok(Principal::Admin | Principal::LocalDeveloper) => exposition(&app.engine).await,
        Ok(other) => ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "{} may not read the metrics of the whole runtime: use the admin token or a metrics token",
                other.describe()
            ),
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn exposition(engine: &Engine) -> Response {
    match engine.scrape_metrics().await {
        Some(text) => {
            let mut res = (StatusCode::OK, text).into_response();
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            res
        }
        None => ApiError::new(ErrorCode::NoEndpoint, "metrics are off (--metrics off)").into_response(),
    }
}

/// Outermost middleware: counts every 401 answered (by its error code) in `cfp_auth_failures_total`.
pub async fn count_auth_failures(
    State(app): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let res = next.run(req).await;
    if res.status() == StatusCode::UNAUTHORIZED && res.extensions().get::<Counted>().is_none() {
        if let Some(m) = app.engine.metrics() {
            // Fixed words only (a closed set of error codes): never anything the caller sent.
            let reason = res
                .extensions()
                .get::<ErrorCode>()
                .map_or("unauthenticated", |c| c.as_str());
            m.auth_failure(reason);
        }
    }
    res
}

/// Marks a refusal already counted.
#[derive(Clone, Copy)]
struct Counted;

/// An API-step request refused by a limit (413, 429 or 504), counted per project (metrics and usage).
pub fn count_limit_refusal(engine: &Engine, scope: &Scope, res: &Response) {
    // Usage metering (docs/usage.md) counts them whether or not metrics are on.
    engine.store().usage_meter().refused(scope, res.status().as_u16());
    let Some(m) = engine.metrics() else { return };
    let status = match res.status().as_u16() {
        413 => "413",
        429 => "429",
        504 => "504",
        _ => return,
    };
    let reason = res.extensions().get::<ErrorCode>().map_or("other", |c| c.as_str());
    m.limit_refusal(scope, status, reason);
}
