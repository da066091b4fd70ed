//! Per-project and per-tenant limits of API-step requests (FR-6): body size (413), request timeout (504) and
//! concurrent requests (429), each error naming the limit; and CORS from the project's allowlist (FR-5).
//! Limits come from the control plane (effective project value = min(tenant, project); the tenant's own value
//! also bounds the sum over its projects); without one, the runtime's flags apply. Concurrent requests are
//! counted per replica, and across the region's replicas when the runtime has `--redis-url`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use cfp_access::{CorsGrant, ProjectSettings};
use cfp_engine::shared_limits::{Acquired, Lease, SharedCounters};

use crate::error::ApiError;
use crate::GatewayConfig;
use cfp_protocol::ErrorCode;

/// In-flight request counters per project and per tenant.
#[derive(Default)]
pub struct Gates {
    projects: Mutex<HashMap<String, Arc<AtomicU32>>>,
    tenants: Mutex<HashMap<String, Arc<AtomicU32>>>,
}

/// Holds one request slot of a project and of its tenant (and its lease in the region's counts); released on
/// drop.
pub struct Permit {
    held: Vec<Arc<AtomicU32>>,
    _lease: Option<Lease>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        for c in &self.held {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn counter(map: &Mutex<HashMap<String, Arc<AtomicU32>>>, key: &str) -> Arc<AtomicU32> {
    map.lock().unwrap().entry(key.to_string()).or_default().clone()
}

fn too_many(limit: &str, value: u32, whose: &str) -> ApiError {
    ApiError::new(
        ErrorCode::LimitExceeded,
        format!("{limit} ({value}) of {whose} reached; retry shortly"),
    )
}

impl Gates {
    /// Takes a request slot, or answers 429 naming `maxConcurrentRequests` of the project or its tenant. With
    /// `shared` (`--redis-url`) the slot is also taken in the region's counts, so the limit holds across
    /// replicas.
    pub async fn acquire(
        &self,
        settings: Option<&ProjectSettings>,
        shared: Option<&SharedCounters>,
    ) -> Result<Permit, ApiError> {
        let Some(s) = settings else {
            return Ok(Permit {
                held: Vec::new(),
                _lease: None,
            });
        };
        let mut permit = Permit {
            held: Vec::with_capacity(2),
            _lease: None,
        };
        let limits = [
            s.limits.max_concurrent_requests,
            s.tenant_limits.max_concurrent_requests,
        ];
        let whose = |i: usize| {
            if i == 0 {
                format!("project `{}`", s.slug)
            } else {
                "its tenant".to_string()
            }
        };
        for (i, (map, key)) in [(&self.projects, &s.project_id), (&self.tenants, &s.tenant_id)]
            .into_iter()
            .enumerate()
        {
            let Some(limit) = limits[i] else { continue };
            let c = counter(map, key);
            if c.fetch_add(1, Ordering::AcqRel) >= limit {
                c.fetch_sub(1, Ordering::AcqRel);
                return Err(too_many("maxConcurrentRequests", limit, &whose(i)));
            }
            permit.held.push(c);
        }
        if let Some(shared) = shared {
            match shared.acquire("rq", &s.tenant_id, &s.project_id, limits).await {
                Acquired::Held(lease) => permit._lease = Some(lease),
                Acquired::Full { index, .. } => {
                    return Err(too_many(
                        "maxConcurrentRequests",
                        limits[index].unwrap_or_default(),
                        &whose(index),
                    ))
                }
                Acquired::Unavailable => {}
            }
        }
        Ok(permit)
    }
}

/// The body limit of a request to the project, and the error when it is exceeded.
/// The project's `maxBodyBytes`, never above the runtime's own `--body-limit`: the operator's flag is the
/// platform's ceiling, which no tenant or project setting raises.
pub fn body_limit(cfg: &GatewayConfig, settings: Option<&ProjectSettings>) -> usize {
    settings
        .and_then(|s| s.limits.max_body_bytes)
        .map(|b| (b as usize).min(cfg.body_limit))
        .unwrap_or(cfg.body_limit)
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::BodyTooLarge,
        format!("the request body exceeds maxBodyBytes ({limit} bytes)"),
    )
}

/// How much of the rest of a refused body is read (and dropped) before the 413 is sent, and for how long at most.
/// A client that writes its whole body before reading (curl, most HTTP libraries) would otherwise get a reset
/// instead of the answer when the connection is closed with unread data (what common servers do, too).
const DRAIN_BYTES: usize = 1 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Reads a request body of at most `limit` bytes (`declared`: its Content-Length). Over the limit: 413 after
/// draining a bounded remainder; a body that cannot be read (malformed chunked encoding, …): 400
/// `malformed_body`.
///
/// The body lands in one buffer that the caller owns: sized from `Content-Length` up front when the request
/// declares one (so a body near the limit is never held twice while a growing buffer moves), and handed over
/// as a `Vec` so that a text body becomes the step's string without a copy.
pub async fn read_body(body: axum::body::Body, declared: Option<usize>, limit: usize) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut over = declared.is_some_and(|n| n > limit);
    let mut buf = Vec::with_capacity(if over { 0 } else { declared.unwrap_or(0) });
    while !over {
        match stream.next().await {
            None => return Ok(buf),
            Some(Ok(chunk)) if buf.len() + chunk.len() > limit => over = true,
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(malformed_body(e)),
        }
    }
    drop(buf);
    Err(refuse_too_large(stream, limit).await)
}

/// The 413 of a body over `limit`, after draining a bounded amount of what remains of it (so the client reads the
/// answer rather than a reset connection).
pub async fn refuse_too_large(mut stream: axum::body::BodyDataStream, limit: usize) -> ApiError {
    use futures_util::StreamExt;
    let drain = async {
        let mut drained = 0;
        while let Some(Ok(chunk)) = stream.next().await {
            drained += chunk.len();
            if drained >= DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    too_large(limit)
}

pub fn malformed_body(e: axum::Error) -> ApiError {
    ApiError::new(
        ErrorCode::MalformedBody,
        format!("the request body could not be read (malformed chunked encoding or a broken upload): {e}"),
    )
}

/// The project's `requestTimeoutMs`, never above the runtime's own `--request-timeout` (the ceiling).
pub fn request_timeout(cfg: &GatewayConfig, settings: Option<&ProjectSettings>) -> Duration {
    settings
        .and_then(|s| s.limits.request_timeout_ms)
        .map(|ms| Duration::from_millis(ms).min(cfg.request_timeout))
        .unwrap_or(cfg.request_timeout)
}

/// CORS headers for a response to `origin` (none when it is not allowlisted). Projects without settings (the
/// runtime's own default project) send none: same-origin only.
pub fn cors_headers(settings: Option<&ProjectSettings>, origin: Option<&HeaderValue>, out: &mut HeaderMap) {
    let Some(origin) = origin.and_then(|v| v.to_str().ok()) else {
        return;
    };
    let Some(s) = settings else { return };
    out.append(header::VARY, HeaderValue::from_static("Origin"));
    let granted = s.cors.grant(origin);
    if granted != CorsGrant::Denied {
        // Pages may read the trace id of their call (and the limit's retry hint).
        out.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-trace-id, traceparent, retry-after"),
        );
    }
    match granted {
        CorsGrant::Denied => {}
        CorsGrant::Any => {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        CorsGrant::Origin { credentials } => {
            if let Ok(v) = HeaderValue::from_str(origin) {
                out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                if credentials {
                    out.insert(
                        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                        HeaderValue::from_static("true"),
                    );
                }
            }
        }
    }
}

/// Whether a request is a CORS preflight.
pub fn is_preflight(method: &axum::http::Method, headers: &HeaderMap) -> bool {
    method == axum::http::Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight: 204 with the allowed method and headers when the origin is allowlisted and the
/// project has a route for the method; 403 `cors_denied` otherwise (browsers then block the real request).
pub fn preflight(
    settings: Option<&ProjectSettings>,
    request: &HeaderMap,
    method_routed: bool,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut out = HeaderMap::new();
    cors_headers(settings, request.get(header::ORIGIN), &mut out);
    if !out.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) || !method_routed {
        let mut res = ApiError::new(
            ErrorCode::CorsDenied,
            if method_routed {
                "this origin is not in the project's CORS allowlist"
            } else {
                "no API step answers this method and path"
            },
        )
        .into_response();
        res.headers_mut().extend(out);
        return res;
    }
    if let Some(m) = request.get(header::ACCESS_CONTROL_REQUEST_METHOD) {
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m.clone());
    }
    if let Some(h) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
    }
    out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    out.append(
        header::VARY,
        HeaderValue::from_static("Access-Control-Request-Method, Access-Control-Request-Headers"),
    );
    (StatusCode::NO_CONTENT, out).into_response()
}

/// CORS of the runtime API for workbenches served from another origin (`--workbench-origins`, e.g. the control
/// plane's): exact origins only, bearer tokens in headers (never cookies, so never credentials).
pub async fn api_cors(
    axum::extract::State(app): axum::extract::State<crate::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| app.cfg.workbench_origins.iter().any(|w| w == o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let Some(origin) = origin else {
        return next.run(req).await;
    };
    let mut res = if is_preflight(req.method(), req.headers()) {
        let mut out = HeaderMap::new();
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE"),
        );
        out.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, x-cfp-project"),
        );
        out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        (StatusCode::NO_CONTENT, out).into_response()
    } else {
        next.run(req).await
    };
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    res.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfp_access::{Cors, Diagnostics, Limits};

    fn project(limits: Limits) -> ProjectSettings {
        ProjectSettings {
            project_id: "p".into(),
            tenant_id: "t".into(),
            team_id: "tm".into(),
            slug: "p".into(),
            limits,
            tenant_limits: Limits::default(),
            cors: Cors::default(),
            strict_validation: None,
            diagnostics: Diagnostics::default(),
            oidc: None,
            version: 1,
        }
    }

    /// A tenant admin who sets 100 MiB and 900 s on a project gets the runtime's ceiling, not more; lower
    /// settings apply as they are.
    #[test]
    fn project_limits_never_exceed_the_runtimes_flags() {
        let cfg = GatewayConfig {
            body_limit: 1 << 20,
            request_timeout: Duration::from_secs(30),
            ..GatewayConfig::default()
        };
        let raised = project(Limits {
            max_body_bytes: Some(100 << 20),
            request_timeout_ms: Some(900_000),
            ..Limits::default()
        });
        assert_eq!(body_limit(&cfg, Some(&raised)), 1 << 20);
        assert_eq!(request_timeout(&cfg, Some(&raised)), Duration::from_secs(30));
        let lowered = project(Limits {
            max_body_bytes: Some(64),
            request_timeout_ms: Some(300),
            ..Limits::default()
        });
        assert_eq!(body_limit(&cfg, Some(&lowered)), 64);
        assert_eq!(request_timeout(&cfg, Some(&lowered)), Duration::from_millis(300));
        assert_eq!(body_limit(&cfg, None), 1 << 20);
    }
}
