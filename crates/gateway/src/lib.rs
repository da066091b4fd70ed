//! The runtime's HTTP surface (axum).
//!
//! - [`ingress`]: API steps — routing, limits (body size → 413, timeout → 504), request/response mapping.
//! - [`worker_ws`]: the worker protocol endpoint `/__cfp/worker` (see `docs/protocol.md`).
//! - [`admin`]: the runtime API under `/__cfp/api` (emit, dead letters, steps, logs, queues).
//! - [`observe`]: traces, state, the layout file and the live feed (SSE) for the workbench.
//! - [`workbench`]: the workbench SPA under `/__cfp/`.
//! - [`streams_ws`]: the stream websocket for clients (upgrade at `/`, Motia's protocol); [`admin_streams`]: its runtime API.
//! - [`audit`]: the audit chain's read API (`/__cfp/api/audit/…`) and the events the gateway records.
//! - [`motia`]: Motia's stock plugin endpoints under `/__motia/` and the gate of every `/__motia/…` route.
//! - [`auth`]: who is calling: the admin token, or the local developer on loopback in dev mode.
//! - [`error`]: the one JSON error shape and its HTTP mapping.
//! - [`conn`]: serving connections (request-head deadline, graceful shutdown, per-connection read limits).

pub mod admin;
pub mod admin_streams;
pub mod audit;
pub mod audit_retention;
pub mod audit_status;
pub mod auth;
pub mod bodies;
pub mod conn;
pub mod error;
pub mod ingress;
pub mod limits;
pub mod metrics;
pub mod motia;
pub mod observe;
pub mod results;
pub mod slo;
pub mod source;
pub mod streams_ws;
pub mod ui;
pub mod usage;
pub mod workbench;
pub mod worker_ws;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{any, get};
use axum::Router;
use cfp_engine::Engine;
use cfp_store::Scope;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest accepted request body of an API step, in bytes (413 beyond).
    pub body_limit: usize,
    /// How long an API step may take before the caller gets 504.
    pub request_timeout: Duration,
    /// Dev mode: requests from loopback run as the local developer.
    pub dev: bool,
    /// Dev and diagnostic endpoints (emit): off unless enabled (always on in dev mode).
    pub dev_endpoints: bool,
    /// Bearer token of the runtime API (and of API steps outside dev mode, until project API keys exist).
    pub admin_token: Option<String>,
    /// The project API steps are served for (single-project mode).
    pub default_scope: Scope,
    /// Built workbench (apps/workbench/dist) served under `/__cfp/`.
    pub workbench_dir: Option<std::path::PathBuf>,
    /// The project's `motia-workbench.json` (node positions), read and written by the workbench.
    pub layout_file: Option<std::path::PathBuf>,
    /// Stream changes cross replicas over Redis pub/sub at this URL instead of PostgreSQL NOTIFY.
    pub redis_url: Option<String>,
    /// Dev mode enforces exactly what production enforces: no loopback local developer.
    pub require_auth: bool,
    /// The control plane: access tokens, API keys, worker tokens, revocations, project settings.
    pub control: Option<cfp_access::Control>,
    /// Accept plain-http JWKS URLs on loopback for projects' own OIDC providers (tests, local IdPs).
    pub allow_loopback_oidc: bool,
    /// Origins of workbenches served elsewhere (the control plane) that may call the runtime API from a browser.
    pub workbench_origins: Vec<String>,
    /// How long a worker connection may take to send its `hello` (closed with 4401 after).
    pub worker_hello_timeout: Duration,
    /// Worker connections waiting to authenticate, at most, in all (more: 503 `too_many_connections`).
    pub worker_max_unauthenticated: usize,
    /// Worker connections waiting to authenticate, at most, from one peer address.
    pub worker_max_unauthenticated_per_peer: usize,
    /// Largest frame (and message) an authenticated worker may send, in bytes (closed with 1009 beyond).
    pub worker_max_frame: usize,
    /// Bearer token for `/metrics` (`--metrics-token`); see [`metrics`].
    pub metrics_token: Option<String>,
    /// `/metrics` is served on a separate listener (`--metrics-listen`), not on this one.
    pub metrics_separate: bool,
    /// The audit retention of tenants without their own (`--audit-retention-days`, 0 = forever), shown by the
    /// runtime API.
    pub audit_retention_days: u32,
    /// The floor of a tenant's audit retention (`--audit-retention-min-days`): the runtime API refuses less.
    pub audit_retention_min_days: u32,
    /// The runtime anchors its audit checkpoints (`--audit-tsa-url`), for `GET /__cfp/api/audit/status`.
    pub audit_anchoring: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            dev: false,
            dev_endpoints: false,
            admin_token: None,
            default_scope: Scope::new("default", "default"),
            workbench_dir: None,
            layout_file: None,
            redis_url: None,
            require_auth: false,
            control: None,
            allow_loopback_oidc: false,
            workbench_origins: Vec::new(),
            worker_hello_timeout: Duration::from_secs(3),
            worker_max_unauthenticated: 256,
            worker_max_unauthenticated_per_peer: 16,
            worker_max_frame: 64 << 20,
            metrics_token: None,
            metrics_separate: false,
            audit_retention_days: 0,
            audit_retention_min_days: 30,
            audit_anchoring: false,
        }
    }
}

/// The gateway's shared state: one `Arc`, so that the clones axum makes per request (each `from_fn_with_state`
/// layer and the fallback handler clone their state on every call) cost one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

pub struct AppStateInner {
    pub engine: Engine,
    pub cfg: Arc<GatewayConfig>,
    pub streams: cfp_streams::Streams,
    /// The permission matrix compiled in; [`AppState::policy`] is the one to check with.
    pub builtin_policy: Arc<cfp_access::Policy>,
    pub gates: Arc<limits::Gates>,
    pub sources: Arc<source::Sources>,
    /// End users' tokens from projects' own OIDC providers.
    pub end_users: cfp_access::EndUserTokens,
    /// Worker connections waiting to authenticate.
    pub worker_admission: Arc<worker_ws::Admission>,
    /// Authentication failures of the runtime API, aggregated into `auth.failure` audit entries.
    pub auth_failures: Arc<audit::Failures>,
    /// Bounds the audit proofs computed at once.
    pub audit_proofs: Arc<audit::ProofGate>,
}

impl AppStateInner {
    /// The permission matrix to check with: the control plane's when it differs from the one compiled in.
    pub fn policy(&self) -> Arc<cfp_access::Policy> {
        self.cfg
            .control
            .as_ref()
            .and_then(|c| c.policy())
            .unwrap_or_else(|| self.builtin_policy.clone())
    }
}

pub fn router(engine: Engine, cfg: GatewayConfig) -> Router {
    let end_users = cfp_access::EndUserTokens::new(cfp_access::OidcOptions {
        allow_loopback_http: cfg.allow_loopback_oidc,
        ..Default::default()
    });
    let state = AppState(Arc::new(AppStateInner {
        streams: streams_ws::start_streams(&engine, &cfg),
        engine,
        cfg: Arc::new(cfg),
        builtin_policy: Arc::new(cfp_access::Policy::builtin()),
        gates: Default::default(),
        sources: Default::default(),
        end_users,
        worker_admission: Default::default(),
        auth_failures: Default::default(),
        audit_proofs: Default::default(),
    }));
    audit::flush_failures(state.engine.clone(), state.auth_failures.clone());
    // The stream service's tasks end on the engine's shutdown signal; the engine's shutdown waits for them (a task
    // of the engine, bounded below its 5 s wait for such tasks), so none outlives the store.
    {
        let streams = state.streams.clone();
        let mut stop = state.engine.shutdown_signal();
        state.engine.spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            streams.stopped(Duration::from_secs(1)).await;
        });
    }
    let mut routes = Router::new().route("/__cfp/health", get(health));
    // `/metrics` here only when metrics are on and not served by a separate listener (then the path is an API
    // step's like any other).
    if state.engine.metrics().is_some() && !state.cfg.metrics_separate {
        routes = routes.route("/metrics", get(metrics::main_listener));
    }
    routes
        .route("/__cfp/worker", get(worker_ws::upgrade))
        .nest(
            "/__cfp/api",
            admin::routes()
                .merge(admin_streams::routes())
                .merge(audit::routes())
                .merge(audit_retention::routes())
                .merge(audit_status::routes())
                .merge(ui::routes())
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    audit::count_failures,
                ))
                .layer(axum::middleware::from_fn_with_state(state.clone(), limits::api_cors)),
        )
        .route("/__cfp/api/{*rest}", any(error::not_found))
        .route(
            "/__cfp",
            get(|| async { axum::response::Redirect::temporary("/__cfp/") }),
        )
        .route("/__cfp/", get(workbench::index))
        .route("/__cfp/{*path}", get(workbench::asset))
        .merge(motia::routes())
        // The runtime's own routes (not API steps: their answers are the project's) answer errors as JSON.
        .route_layer(axum::middleware::from_fn(error::json_errors))
        .fallback(ingress::handle)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            streams_ws::intercept,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::refuse_cross_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state,
            metrics::count_auth_failures,
        ))
}

async fn health(axum::extract::State(app): axum::extract::State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "status": if app.engine.is_shutting_down() { "draining" } else { "ok" },
        "workers": app.engine.worker_count(),
    }))
}

/// Serves until `shutdown` resolves, then stops accepting connections and lets in-flight requests finish
/// (with the default [`conn::ServeOptions`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::serve(listener, app, conn::ServeOptions::default(), shutdown).await
}
