//! API-step ingress: every request not under `/__cfp/` is routed to the API step owning its method and path.
//!
//! The step sees the request minus every CFP credential (see [`crate::auth`]): `Authorization`, `X-API-Key`
//! and `Proxy-Authorization` holding one are dropped (in any scheme, `Basic` user name or password included), so are cookies whose value is one and the query
//! parameters `access_token` and `token` when they hold one. Everything else (an application's own
//! `Authorization: Bearer <its token>`) passes unchanged; the verified caller comes as `auth`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cfp_engine::{InvokeError, RouteMatch};
use cfp_protocol::{ApiBody, ApiInput, ApiOutput, BodyEncoding, BodyFrom, Multimap, StringOrStrings};
use serde_json::Value;

use crate::error::ApiError;
use crate::{auth, limits, AppState};
use cfp_protocol::ErrorCode;

pub async fn handle(State(app): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let target = Target::of(&app, req.uri().path());
    let cors = app
        .cfg
        .control
        .as_ref()
        .and_then(|c| c.project(target.project.as_deref().unwrap_or(&app.cfg.default_scope.project)));
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resolved = None;
    let mut response = match call_step(&app, peer, req, &target, cors.as_deref(), &mut resolved).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Some(scope) = &resolved {
        crate::metrics::count_limit_refusal(&app.engine, scope, &response);
    }
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    // Errors carry CORS headers too, so an allowlisted page can read why it was refused.
    limits::cors_headers(cors.as_deref(), origin.as_ref(), response.headers_mut());
    response
}

/// The project and route path of a request: `/p/{project}/rest` addresses a project by id; any other path
/// goes to the runtime's default project.
struct Target {
    project: Option<String>,
    path: String,
}

impl Target {
    fn of(app: &AppState, path: &str) -> Self {
        if let Some(rest) = path.strip_prefix("/p/") {
            let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
            // Only a prefix naming a project the control plane knows; otherwise the path is the default project's.
            if app.cfg.control.as_ref().is_some_and(|c| c.project(id).is_some()) {
                return Self {
                    project: Some(id.to_string()),
                    path: format!("/{tail}"),
                };
            }
        }
        Self {
            project: None,
            path: path.to_string(),
        }
    }
}

async fn call_step(
    app: &AppState,
    peer: SocketAddr,
    req: Request,
    target: &Target,
    cors: Option<&cfp_access::ProjectSettings>,
    resolved: &mut Option<cfp_store::Scope>,
) -> Result<Response, ApiError> {
    let cfg = &app.cfg;
    let method = req.method().as_str().to_string();
    let path = target.path.clone();
    if limits::is_preflight(req.method(), req.headers()) {
        // Browsers send preflights without credentials: the answer depends only on the allowlist and routes.
        let wanted = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_uppercase();
        let scope = cors
            .map(|s| cfp_store::Scope::new(&s.tenant_id, &s.project_id))
            .unwrap_or_else(|| cfg.default_scope.clone());
        let routed = matches!(
            app.engine.resolve_route(&scope, &wanted, &path),
            RouteMatch::Found { .. }
        );
        return Ok(limits::preflight(cors, req.headers(), routed));
    }
    // `/` opens the workbench (public, it is the login page) unless a step owns `GET /`.
    if req.method() == axum::http::Method::GET
        && target.project.is_none()
        && path == "/"
        && !matches!(
            app.engine.resolve_route(&cfg.default_scope, "GET", "/"),
            RouteMatch::Found { .. }
        )
    {
        return Ok(axum::response::Redirect::temporary("/__cfp/").into_response());
    }
    // Who: an end user of the project's own OIDC provider, or any other principal. No credentials at all may
    // still call a signed webhook step (its worker checks the signature before anything runs); anything else
    // then answers 401 without revealing whether the route exists.
    let mut refused = None;
    let principal = match auth::end_user(app, req.headers(), target.project.as_deref()).await {
        Some(found) => Some(found?),
        None => match auth::authenticate(app, peer, req.headers(), None, true).await {
            Ok(principal) => Some(principal),
            Err(e) if e.code == ErrorCode::Unauthenticated => {
                refused = Some(e);
                None
            }
            Err(e) => return Err(e),
        },
    };
    // Routes of Motia plugins (`registerApi` under `/__motia/`) are diagnostic endpoints.
    if crate::motia::is_motia_path(&path) {
        crate::motia::check_plugin_route(app, principal.as_ref())?;
    }
    let (scope, settings) = match &principal {
        Some(principal) => {
            let (scope, settings) = auth::resolve_project(app, principal, target.project.as_deref())?;
            auth::authorize(app, principal, &scope, settings.as_deref(), "step.invoke")?;
            (scope, settings)
        }
        // The 401 says why the `Authorization` sent did not count, when one was.
        None => {
            webhook_target(app, target, &method, &path).ok_or_else(|| refused.unwrap_or_else(ApiError::unauthorized))?
        }
    };
    let caller = auth::step_auth(principal.as_ref(), &scope, settings.as_deref());
    *resolved = Some(scope.clone());
    let _permit = app
        .gates
        .acquire(settings.as_deref(), app.engine.shared_limits())
        .await?;
    let scope = &scope;
    let (step, path_params) = match app.engine.resolve_route(scope, &method, &path) {
        RouteMatch::Found { step, params } => (step, params),
        RouteMatch::MethodNotAllowed(allowed) => {
            let mut r = ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{method} is not allowed on {path}; allowed: {}", allowed.join(", ")),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return Ok(r);
        }
        RouteMatch::NotFound => {
            if let Ok(Some(step)) = app.engine.registered_route(scope, &method, &path).await {
                let mut r = ApiError::new(ErrorCode::WorkerUnavailable,
                    format!("step `{step}` serves {method} {path} but no worker hosting it is connected right now; retry shortly"),
                )
                .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return Ok(r);
            }
            return Err(ApiError::not_found(format!("no API step handles {method} {path}")));
        }
    };
    let limit = limits::body_limit(cfg, settings.as_deref());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().unwrap_or("");
    let headers = &parts.headers;
    // The body is held once while it becomes the step's input: its base64 (`rawBody`) is made from the bytes
    // read, which are dropped before the invocation is sent. A protocol 2 worker parses them itself (JSON is
    // only checked here, no tree is built), and a body above the payload threshold goes to object storage as it
    // is read (`rawBodyRef`; deleted when `_stored` drops, after the invocation); for a protocol 1 worker they
    // become the parsed `body` (a text body without a copy). See `docs/architecture.md`, "Ingress memory".
    let worker_parses = app
        .engine
        .api_protocol(scope, &step)
        .unwrap_or(cfp_protocol::PROTOCOL_VERSION)
        >= 2;
    let mut _stored = None;
    let body = if worker_parses {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match crate::bodies::read(app.engine.store(), scope, body, declared, limit, ct).await? {
            crate::bodies::Read::Inline(bytes) => request_body(headers, bytes, true)?,
            crate::bodies::Read::Stored { from, body, guard } => {
                _stored = Some(guard);
                ApiBody::Stored {
                    body_from: from,
                    raw_body_ref: body,
                }
            }
        }
    } else {
        request_body(headers, limits::read_body(body, declared, limit).await?, false)?
    };
    // W3C trace context: a valid `traceparent` makes this call part of the caller's trace (its trace id is the
    // CFP trace id); an invalid one is ignored and a new trace starts (docs/tracing.md).
    let remote = cfp_protocol::trace::from_headers(
        headers.get("traceparent").and_then(|v| v.to_str().ok()),
        headers.get("tracestate").and_then(|v| v.to_str().ok()),
    );
    let trace_id = match &remote {
        Some(tp) => cfp_protocol::trace::cfp_trace_id(&tp.trace_id),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let ctx = cfp_engine::trace::SpanCtx::attempt(&trace_id, remote.as_ref(), app.engine.config().trace_sample_ratio);
    let traceparent = ctx.traceparent();
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| trace_id.clone());
    let input = ApiInput {
        method: method.to_string(),
        path: path.to_string(),
        path_params: path_params.into_iter().collect(),
        query_params: step_query_params(app, query),
        headers: header_map(app, headers),
        auth: caller,
        body,
    };
    let result = app
        .engine
        .invoke_api(
            scope,
            &step,
            input,
            ctx,
            &idempotency_key,
            limits::request_timeout(cfg, settings.as_deref()),
        )
        .await
        .map_err(|e| match e {
            InvokeError::Timeout { .. } => ApiError::new(
                e.code(),
                format!(
                    "{e} (requestTimeoutMs {})",
                    limits::request_timeout(cfg, settings.as_deref()).as_millis()
                ),
            ),
            e => e.into(),
        });
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            let mut response = e.into_response();
            trace_headers(&mut response, &trace_id, &traceparent);
            return Ok(response);
        }
    };
    let mut response = if result.ok {
        output_response(result.output.unwrap_or(Value::Null))?
    } else {
        let message = result
            .error
            .map(|e| e.message)
            .unwrap_or_else(|| "handler failed".into());
        handler_error_response(&step, &message, app.cfg.dev)
    };
    trace_headers(&mut response, &trace_id, &traceparent);
    Ok(response)
}

/// The answer to an API step whose handler threw, as Motia gives it: 500
/// `{"error": "Internal server error", "code": "handler_error"}`. The exception text (which may hold anything:
/// a whole validation error, a connection string) reaches the caller only in dev mode, as `message`; it always
/// goes, with its stack, to the step's log and its trace span (the engine records both).
pub fn handler_error_response(step: &str, message: &str, dev: bool) -> Response {
    let code = ErrorCode::HandlerError;
    let mut body = serde_json::json!({ "error": "Internal server error", "code": code.as_str() });
    if dev {
        body["message"] = Value::String(format!("step `{step}` failed: {message}"));
    }
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// `x-trace-id` (the CFP trace id) and `traceparent` (the attempt's span) on an API step's response.
fn trace_headers(response: &mut Response, trace_id: &str, traceparent: &str) {
    for (name, value) in [("x-trace-id", trace_id), ("traceparent", traceparent)] {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name, v);
        }
    }
}

/// The project of an uncredentialed request when its route is a signed webhook step.
fn webhook_target(
    app: &AppState,
    target: &Target,
    method: &str,
    path: &str,
) -> Option<(cfp_store::Scope, Option<std::sync::Arc<cfp_access::ProjectSettings>>)> {
    let (scope, settings) = match &target.project {
        Some(id) => {
            let s = app.cfg.control.as_ref()?.project(id)?;
            (cfp_store::Scope::new(&s.tenant_id, &s.project_id), Some(s))
        }
        None => {
            let settings = app
                .cfg
                .control
                .as_ref()
                .and_then(|c| c.project(&app.cfg.default_scope.project));
            (app.cfg.default_scope.clone(), settings)
        }
    };
    let RouteMatch::Found { step, .. } = app.engine.resolve_route(&scope, method, path) else {
        return None;
    };
    app.engine.manifest(&scope, &step)?.webhook.as_ref()?;
    Some((scope, settings))
}

/// The input's body from the request's bytes: raw with how to parse it when the worker parses (protocol 2; a
/// JSON body is checked without building it), else parsed here (JSON, text taking over the buffer when it is
/// UTF-8, else `null`). Invalid JSON is a 400 `invalid_json` either way.
fn request_body(headers: &HeaderMap, bytes: Vec<u8>, worker_parses: bool) -> Result<ApiBody, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let from = BodyFrom::of(ct, &bytes);
    let invalid =
        |e: serde_json::Error| ApiError::new(ErrorCode::InvalidJson, format!("request body is not valid JSON: {e}"));
    let raw_body = B64.encode(&bytes);
    if worker_parses {
        if from == BodyFrom::Json {
            cfp_protocol::body::check_json(&bytes).map_err(invalid)?;
        }
        return Ok(ApiBody::Raw {
            body_from: from,
            raw_body,
        });
    }
    let body = cfp_protocol::body::parse(from, bytes).map_err(invalid)?;
    Ok(ApiBody::Parsed { body, raw_body })
}

/// `a=1&a=2&b=x` → `{ a: ["1", "2"], b: "x" }`.
pub fn query_params(query: &str) -> Multimap {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        map.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    collapse(map)
}

/// The query parameters a step sees: `access_token` and `token` holding a CFP credential are left out.
fn step_query_params(app: &AppState, query: &str) -> Multimap {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if matches!(&*k, "access_token" | "token") && auth::is_cfp_credential(app, &v) {
            continue;
        }
        map.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    collapse(map)
}

/// Headers whose value may be a credential, checked whatever the mode.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "x-api-key"];

/// The headers a step sees: every one, minus CFP credentials.
fn header_map(app: &AppState, headers: &HeaderMap) -> Multimap {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in headers {
        let name = k.as_str();
        let text = String::from_utf8_lossy(v.as_bytes()).into_owned();
        let text = if CREDENTIAL_HEADERS.contains(&name) {
            if auth::header_holds_credential(app, name, &text) {
                continue;
            }
            text
        } else if name == "cookie" {
            match without_credential_cookies(app, &text) {
                Some(kept) => kept,
                None => continue,
            }
        } else {
            text
        };
        map.entry(name.to_string()).or_default().push(text);
    }
    collapse(map)
}

/// A `Cookie` header minus the pairs whose value is a CFP credential (CFP sets no cookie, but a browser or a
/// client may carry one); `None` when nothing remains.
fn without_credential_cookies(app: &AppState, cookie: &str) -> Option<String> {
    let pairs: Vec<&str> = cookie.split(';').map(str::trim).filter(|p| !p.is_empty()).collect();
    let kept: Vec<&str> = pairs
        .iter()
        .copied()
        .filter(|pair| {
            let value = pair.split_once('=').map_or(*pair, |(_, v)| v).trim().trim_matches('"');
            !auth::is_cfp_credential(app, value)
        })
        .collect();
    if kept.len() == pairs.len() {
        return Some(cookie.to_string());
    }
    (!kept.is_empty()).then(|| kept.join("; "))
}

fn collapse(map: BTreeMap<String, Vec<String>>) -> Multimap {
    map.into_iter()
        .map(|(k, v)| (k, StringOrStrings::from_values(v)))
        .collect()
}

/// `{status, headers?, body, bodyEncoding?}` → an HTTP response.
fn output_response(output: Value) -> Result<Response, ApiError> {
    let output = ApiOutput::from_output(output).map_err(|message| ApiError::new(ErrorCode::BadResponse, message))?;
    let status = StatusCode::from_u16(output.status).map_err(|_| {
        ApiError::new(
            ErrorCode::BadResponse,
            format!("handler returned invalid status {}", output.status),
        )
    })?;
    let mut headers = HeaderMap::new();
    for (k, v) in output.headers.iter().flatten() {
        let Ok(name) = HeaderName::from_bytes(k.as_bytes()) else {
            continue;
        };
        for value in v.values() {
            if let Ok(hv) = HeaderValue::from_str(value) {
                headers.append(name.clone(), hv);
            }
        }
    }
    let (bytes, default_ct): (Vec<u8>, Option<&str>) = match (output.body, output.body_encoding) {
        (Value::String(s), Some(BodyEncoding::Base64)) => {
            let raw = B64.decode(s).map_err(|_| {
                ApiError::new(
                    ErrorCode::BadResponse,
                    "handler returned a body marked base64 that is not base64",
                )
            })?;
            (raw, Some("application/octet-stream"))
        }
        (Value::String(s), _) => (s.into_bytes(), Some("text/plain; charset=utf-8")),
        (Value::Null, _) => (Vec::new(), None),
        (v, _) => (serde_json::to_vec(&v).unwrap_or_default(), Some("application/json")),
    };
    if let (false, Some(ct)) = (headers.contains_key(header::CONTENT_TYPE), default_ct) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    confine(&mut headers);
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// What a step's response may not do on the runtime's origin, which also serves the workbench (see
/// `docs/threat-model.md`, "Step content and the runtime's origin"):
/// - Its documents run sandboxed (`Content-Security-Policy: sandbox …` without `allow-same-origin`): a page a step
///   serves gets an opaque origin, so its scripts cannot read the origin's `localStorage` (the workbench's admin
///   token), its cookies, or read answers of the runtime API; what they send carries `Origin: null`.
/// - CORS is the project's allowlist, set by the gateway: a handler's `Access-Control-*` headers are dropped.
/// - Cookies are host-only and not the platform's: a `Set-Cookie` with a `Domain` attribute (it would reach the
///   console or the control plane on a sibling host), a `Path` under `/__cfp`, or a `cfp`-prefixed name is dropped.
/// - No `Clear-Site-Data` (it would wipe the workbench's storage) and no `Service-Worker-Allowed`.
pub(crate) fn confine(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers.keys().cloned().collect();
    for name in names {
        let n = name.as_str();
        if n.starts_with("access-control-") || n == "clear-site-data" || n == "service-worker-allowed" {
            headers.remove(&name);
        }
    }
    let cookies: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).iter().cloned().collect();
    if !cookies.is_empty() {
        headers.remove(header::SET_COOKIE);
        for cookie in cookies.into_iter().filter(|c| tenant_cookie(c.as_bytes())) {
            headers.append(header::SET_COOKIE, cookie);
        }
    }
    headers.append(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(STEP_SANDBOX));
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
}

/// The sandbox every step response is served in: scripts, forms, pop-ups, dialogs and downloads work, the origin
/// does not.
pub const STEP_SANDBOX: &str = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/// Whether a step's `Set-Cookie` may pass: host-only, not under `/__cfp`, not named like the platform's cookies.
fn tenant_cookie(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let mut parts = text.split(';');
    let name = parts
        .next()
        .and_then(|pair| pair.split('=').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let name = name
        .strip_prefix("__host-")
        .or_else(|| name.strip_prefix("__secure-"))
        .unwrap_or(&name);
    if name.is_empty() || name.starts_with("cfp") || name.starts_with("__cfp") {
        return false;
    }
    parts.all(|attr| {
        let (key, value) = attr.split_once('=').unwrap_or((attr, ""));
        match key.trim().to_ascii_lowercase().as_str() {
            "domain" => false,
            "path" => !value.trim().to_ascii_lowercase().starts_with("/__cfp"),
            _ => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_params_repeat_into_arrays() {
        assert_eq!(
            serde_json::to_value(query_params("a=1&a=2&b=x%20y&c=")).unwrap(),
            json!({"a": ["1", "2"], "b": "x y", "c": ""})
        );
    }

    #[test]
    fn step_responses_are_confined() {
        let out = json!({
            "status": 200,
            "headers": {
                "content-type": "text/html",
                "access-control-allow-origin": "*",
                "Access-Control-Allow-Credentials": "true",
                "clear-site-data": "\"storage\"",
                "service-worker-allowed": "/",
                "set-cookie": [
                    "theme=dark; Path=/; HttpOnly",
                    "sid=1; Domain=example.com; Path=/",
                    "x=1; path=/__cfp/api",
                    "cfp_login=stolen; Path=/",
                    "__Host-cfp.session=1; Path=/; Secure",
                    "CFP_X=1"
                ],
                "content-security-policy": "default-src *"
            },
            "body": "<script>localStorage.getItem('cfp.adminToken')</script>"
        });
        let r = output_response(out).unwrap();
        let h = r.headers();
        assert!(h.keys().all(|k| !k.as_str().starts_with("access-control-")), "{h:?}");
        assert!(h.get("clear-site-data").is_none() && h.get("service-worker-allowed").is_none());
        let cookies: Vec<&str> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(cookies, vec!["theme=dark; Path=/; HttpOnly"]);
        let csp: Vec<&str> = h
            .get_all(header::CONTENT_SECURITY_POLICY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(
            csp.contains(&STEP_SANDBOX),
            "ours is added, the handler's kept (both apply): {csp:?}"
        );
        assert!(!STEP_SANDBOX.contains("allow-same-origin"));
        assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), "text/html");
    }

    #[test]
    fn a_response_with_a_non_string_header_is_refused_naming_it() {
        for (headers, named) in [
            (json!({"x-ok": "1", "x-count": 3}), "`x-count`"),
            (json!({"x-meta": {"a": 1}}), "`x-meta`"),
            (json!({"x-list": ["a", null]}), "`x-list`"),
        ] {
            let e = output_response(json!({"status": 200, "headers": headers, "body": "ok"})).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadResponse);
            assert!(e.message.contains(named), "{}", e.message);
        }
        let e = output_response(json!({"body": "ok"})).unwrap_err();
        assert!(e.message.contains("status"), "{}", e.message);
        let r = output_response(json!({"status": 201, "headers": {"x-list": ["a", "b"]}})).unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers().get_all("x-list").iter().count(), 2);
    }

    #[test]
    fn json_body_errors_name_the_problem() {
        let parsed = |h: &HeaderMap, bytes: &[u8]| -> Result<Value, ApiError> {
            match request_body(h, bytes.to_vec(), false)? {
                ApiBody::Parsed { body, raw_body } => {
                    assert_eq!(B64.decode(raw_body).unwrap(), bytes);
                    Ok(body)
                }
                other => panic!("a protocol 1 worker gets the body parsed, not {other:?}"),
            }
        };
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for worker_parses in [false, true] {
            let e = request_body(&h, b"{oops".to_vec(), worker_parses).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidJson);
            assert!(e.message.contains("not valid JSON"), "{}", e.message);
            let e = request_body(&h, b"[1e999]".to_vec(), worker_parses).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidJson, "refused whoever parses");
        }
        assert_eq!(parsed(&h, br#"{"a":1}"#).unwrap(), json!({"a": 1}));
        assert_eq!(
            request_body(&h, br#"{"a":1}"#.to_vec(), true).unwrap(),
            ApiBody::Raw {
                body_from: BodyFrom::Json,
                raw_body: B64.encode(br#"{"a":1}"#)
            },
            "a protocol 2 worker gets the bytes and how to parse them, no parsed body"
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(parsed(&h, b"hi").unwrap(), json!("hi"));
        assert_eq!(parsed(&h, b"caf\xe9").unwrap(), json!("caf\u{fffd}"));
        assert!(matches!(
            request_body(&h, b"hi".to_vec(), true).unwrap(),
            ApiBody::Raw {
                body_from: BodyFrom::Text,
                ..
            }
        ));
    }
}
