//! Who is calling, which project they address, and whether the permission matrix lets them.
//!
//! Principals: the local developer (dev mode, loopback, unless `--require-auth`), the holder of the admin token
//! (the installation's operator), a user with a control-plane access token (ES256 JWT, role bindings `rb`), and
//! a project API key (`cfp_live_…`, one role on one project). Worker tokens only connect workers
//! ([`crate::worker_ws`]). Every runtime route names the matrix action it needs; see `docs/runtime-api.md`.
//!
//! A project the caller has no binding for is invisible (404, the same answer as for one that does not exist);
//! one it can see but may not act on answers 403 naming the action.
//!
//! **CFP credentials are recognised by their form alone** ([`is_cfp_credential`]): a `cfp_` prefix (API keys,
//! worker tokens, refresh tokens), the exact admin token, or a JWT of the control plane (its `iss`, or one of
//! CFP's own audiences, read without verification only to classify). Only such a value authenticates a call,
//! taken from `Authorization: Bearer` first, else from `X-API-Key`; any other `Authorization` is the
//! application's own (a Motia app checking `Bearer <its token>` in a middleware) and reaches the step untouched,
//! while CFP credentials never do ([`crate::ingress`] removes them and gives the step `req.auth` instead).
//!
//! **Loopback trust** (dev mode without `--require-auth`) is narrow: a peer on loopback, no proxy headers
//! (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`, `Via`), a loopback `Host` (DNS rebinding), no foreign `Origin`
//! (a web page's request), and the runtime's default project only. A state-changing request of a foreign page
//! that would otherwise have been trusted answers 403 `cross_origin_refused` ([`refuse_cross_origin`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cfp_access::jws;
use cfp_access::jwt::{Claims, TokenError};
use cfp_access::policy::{Decision, Subject};
use cfp_access::{AuthError, Credential, ProjectSettings};
use cfp_engine::constant_time_eq;
use cfp_protocol::{CallerKind, StepAuth};
use cfp_store::Scope;

use crate::error::ApiError;
use crate::AppState;
use cfp_protocol::ErrorCode;

/// Header that selects the project on runtime API calls (`?project=` where headers cannot be set: SSE,
/// WebSocket). API step calls select it with the path prefix `/p/{project}/`.
pub const PROJECT_HEADER: &str = "x-cfp-project";

#[derive(Debug, Clone)]
pub enum Principal {
    LocalDeveloper,
    Admin,
    User(Arc<Claims>),
    ApiKey(Arc<Credential>),
    /// An end user of one project, signed in with the project's own OIDC provider: may call its API steps.
    EndUser {
        project_id: String,
        sub: String,
    },
}

impl Principal {
    /// For logs and the `x-cfp-principal` debugging aid: never a secret.
    pub fn describe(&self) -> String {
        match self {
            Principal::LocalDeveloper => "local developer".into(),
            Principal::Admin => "admin token".into(),
            Principal::User(c) => format!("user {}", c.sub),
            Principal::ApiKey(c) => format!("API key {}", c.id),
            Principal::EndUser { sub, .. } => format!("end user {sub}"),
        }
    }
}

/// What a step learns about its verified caller (`req.auth`): kind, subject, tenant, project and the roles
/// that apply to the project. Never a secret; `null` for an uncredentialed call of a signed webhook step.
pub fn step_auth(principal: Option<&Principal>, scope: &Scope, settings: Option<&ProjectSettings>) -> Option<StepAuth> {
    let principal = principal?;
    let (kind, subject, roles): (CallerKind, String, Vec<String>) = match principal {
        Principal::LocalDeveloper => (CallerKind::LocalDeveloper, "local-developer".into(), Vec::new()),
        Principal::Admin => (CallerKind::Admin, "admin".into(), Vec::new()),
        Principal::User(c) => {
            let roles = match settings {
                Some(s) => {
                    let path = s.path();
                    c.rb.iter()
                        .filter(|b| b.scope.relation_to(&path).is_some())
                        .map(|b| b.role.clone())
                        .collect()
                }
                None => Vec::new(),
            };
            (CallerKind::User, c.sub.clone(), roles)
        }
        Principal::ApiKey(c) => (CallerKind::ApiKey, c.id.clone(), c.role.iter().cloned().collect()),
        Principal::EndUser { sub, .. } => (CallerKind::EndUser, sub.clone(), Vec::new()),
    };
    Some(StepAuth {
        kind,
        subject,
        tenant: scope.tenant.clone(),
        project: scope.project.clone(),
        roles,
    })
}

/// An authorized request: who, and the project it acts on.
#[derive(Debug, Clone)]
pub struct Access {
    pub principal: Principal,
    pub scope: Scope,
    /// The project's settings from the control plane (none for the runtime's own default project).
    pub settings: Option<Arc<ProjectSettings>>,
}

/// The audiences of CFP's own access tokens (runtime and control plane): a JWT naming one is CFP's.
const CFP_AUDIENCES: [&str; 2] = [cfp_access::jwt::AUDIENCE, cfp_access::jwt::CONTROL_AUDIENCE];

/// Whether `value` is a CFP credential, by its form alone: `cfp_…`, the admin token, or a control-plane JWT.
pub fn is_cfp_credential(app: &AppState, value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() {
        return false;
    }
    if value.starts_with("cfp_") {
        return true;
    }
    if let Some(admin) = app.cfg.admin_token.as_deref() {
        if constant_time_eq(value.as_bytes(), admin.as_bytes()) {
            return true;
        }
    }
    control_plane_jwt(app, value)
}

/// A JWT whose (unverified) issuer is the configured control plane, or that names a CFP audience.
fn control_plane_jwt(app: &AppState, token: &str) -> bool {
    let Some(parts) = jws::split(token) else {
        return false;
    };
    let Some(claims) = jws::decode_json::<serde_json::Value>(parts.payload) else {
        return false;
    };
    let issuer = app.cfg.control.as_ref().map(|c| c.config().issuer.as_str());
    if issuer.is_some_and(|i| claims.get("iss").and_then(|v| v.as_str()) == Some(i)) {
        return true;
    }
    let names = |a: &serde_json::Value| a.as_str().is_some_and(|a| CFP_AUDIENCES.contains(&a));
    match claims.get("aud") {
        Some(serde_json::Value::Array(list)) => list.iter().any(names),
        Some(a) => names(a),
        None => false,
    }
}

/// The token of an `Authorization` value whatever its scheme (`Bearer x`, `token x`, or a bare `x`).
fn authorization_token(value: &str) -> &str {
    let value = value.trim();
    match value.split_once(char::is_whitespace) {
        Some((_, rest)) => rest.trim(),
        None => value,
    }
}

/// The user name and the password of a `Basic` authorization value (`Basic base64(user:password)`), when it is
/// one: clients given an API key as a password (`curl -u x:cfp_live_…`) send it so.
fn basic_parts(value: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, encoded) = value.trim().split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let encoded = encoded.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded.trim_end_matches('=')))
        .ok()?;
    let text = String::from_utf8_lossy(&decoded);
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    Some((user.to_string(), password.to_string()))
}

/// Whether a header value carries a CFP credential: the whole value, the token after an auth scheme, or the user
/// name or password of a `Basic` value.
pub fn header_holds_credential(app: &AppState, name: &str, value: &str) -> bool {
    match name {
        "authorization" | "proxy-authorization" => {
            is_cfp_credential(app, value)
                || is_cfp_credential(app, authorization_token(value))
                || basic_parts(value)
                    .is_some_and(|(user, password)| is_cfp_credential(app, &user) || is_cfp_credential(app, &password))
        }
        _ => is_cfp_credential(app, value),
    }
}

/// The CFP credential a request presents: `Authorization: Bearer` when it holds one, else `X-API-Key`.
pub fn presented_credential<'a>(app: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    bearer(headers).filter(|t| is_cfp_credential(app, t)).or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| is_cfp_credential(app, t))
    })
}

/// Headers that say the request came through a proxy: its loopback peer is not the real client.
const PROXY_HEADERS: [&str; 4] = ["forwarded", "x-forwarded-for", "x-real-ip", "via"];

/// `localhost`, `*.localhost`, `127.x.x.x`, `::1` (with or without brackets), any port.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None if host.matches(':').count() > 1 => host,
        None => host.split(':').next().unwrap_or(""),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An `Origin` of a page served from a loopback name (`null` and opaque origins are foreign).
pub fn is_loopback_origin(origin: &str) -> bool {
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| is_loopback_host(rest.split('/').next().unwrap_or("")))
}

/// Whether the request would be trusted for being on loopback, `Origin` aside: dev mode without
/// `--require-auth`, a loopback peer, no proxy header, a loopback `Host`.
fn loopback_peer(app: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    let cfg = &app.cfg;
    cfg.dev
        && !cfg.require_auth
        && peer.ip().is_loopback()
        && !PROXY_HEADERS.iter().any(|h| headers.contains_key(*h))
        && headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_loopback_host)
}

/// A page of another origin sent the request (browsers send `Origin` on every cross-origin fetch and POST).
pub(crate) fn foreign_origin(headers: &HeaderMap) -> bool {
    headers
        .get(header::ORIGIN)
        .is_some_and(|o| o.to_str().map_or(true, |o| !is_loopback_origin(o)))
}

/// Middleware: a state-changing request that a web page of a foreign origin sends to a dev-mode runtime on
/// loopback without a CFP credential is refused (CSRF against the local developer), 403 `cross_origin_refused`.
pub async fn refuse_cross_origin(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let headers = req.headers();
    if !safe
        && foreign_origin(headers)
        && loopback_peer(&app, peer, headers)
        && presented_credential(&app, headers).is_none()
    {
        return ApiError::new(
            ErrorCode::CrossOriginRefused,
            "a page of another origin may not change anything through the local developer's dev-mode runtime; \
             send a credential (Authorization or X-API-Key) or call from a loopback origin",
        )
        .into_response();
    }
    next.run(req).await
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn invalid_token(message: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidToken, message)
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "control plane unavailable for an authentication");
    ApiError::new(
        ErrorCode::ControlPlaneUnavailable,
        "credentials cannot be checked right now (the control plane is unreachable); try again",
    )
}

/// The project a runtime API request names: `X-CFP-Project` or `?project=`.
pub fn requested_project(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get(PROJECT_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string()).filter(|s| !s.is_empty());
    }
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "project")
            .map(|(_, v)| v.into_owned())
            .filter(|s| !s.is_empty())
    })
}

/// Who is calling. `token` overrides the headers (stream clients send it in the query or a subprotocol);
/// `dev_trust` is false for callers that must not get the loopback convenience (foreign pages). Only a CFP
/// credential authenticates ([`presented_credential`]); a request without one is `unauthenticated`.
pub async fn authenticate(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    token: Option<&str>,
    dev_trust: bool,
) -> Result<Principal, ApiError> {
    let cfg = &app.cfg;
    if dev_trust && loopback_peer(app, peer, headers) && !foreign_origin(headers) {
        return Ok(Principal::LocalDeveloper);
    }
    let given = token.map(str::trim).or_else(|| presented_credential(app, headers));
    let Some(given) = given.filter(|t| !t.is_empty()) else {
        return Err(no_credential(app, headers));
    };
    if let Some(expected) = cfg.admin_token.as_deref() {
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return Ok(Principal::Admin);
        }
    }
    if given.starts_with("cfp_wkr_") {
        return Err(invalid_token("a worker token only connects workers (`/__cfp/worker`)"));
    }
    let Some(control) = cfg.control.as_ref() else {
        return Err(invalid_token("the bearer token is not valid"));
    };
    if given.starts_with("cfp_live_") {
        return match control.verify_credential(given).await {
            Ok(Some(c)) if c.kind == "api_key" => Ok(Principal::ApiKey(Arc::new(c))),
            Ok(_) => Err(invalid_token("the API key is not valid (unknown, expired or revoked)")),
            Err(AuthError::Control(e)) => Err(unavailable(e)),
            Err(e) => Err(invalid_token(&e.to_string())),
        };
    }
    match control.verify_access_token(given).await {
        Ok(claims) => Ok(Principal::User(claims)),
        Err(AuthError::Control(e)) => Err(unavailable(e)),
        Err(AuthError::Token(TokenError::Expired)) => Err(invalid_token("the access token has expired; refresh it")),
        Err(e) => {
            tracing::debug!(reason = %e, "access token refused");
            Err(invalid_token(
                "the bearer token is not valid (malformed, forged, revoked or for another region)",
            ))
        }
    }
}

/// 401 `unauthenticated`, saying why an `Authorization` header that was sent did not count.
fn no_credential(app: &AppState, headers: &HeaderMap) -> ApiError {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if authorization.is_some_and(|v| header_holds_credential(app, "authorization", v)) {
        // A CFP credential in another scheme (`Basic`, `Token`): removed from what the step sees, not accepted.
        return ApiError::new(
            ErrorCode::Unauthenticated,
            "authentication required: a CFP credential is accepted only as `Authorization: Bearer <token>` or in \
             `X-API-Key` (one sent in another scheme, such as Basic, is removed and never reaches the step)",
        );
    }
    if headers.contains_key(header::AUTHORIZATION) {
        return ApiError::new(
            ErrorCode::Unauthenticated,
            "authentication required: the Authorization header holds no CFP credential (it is passed to the step \
             as is); send the API key or token in `X-API-Key`, or as `Authorization: Bearer <token>`",
        );
    }
    ApiError::unauthorized()
}

fn no_project(id: &str) -> ApiError {
    ApiError::not_found(format!("no project `{id}` on this runtime"))
}

/// The project the request acts on: an API key's own; otherwise the requested one or the runtime's default.
pub fn resolve_project(
    app: &AppState,
    principal: &Principal,
    requested: Option<&str>,
) -> Result<(Scope, Option<Arc<ProjectSettings>>), ApiError> {
    let cfg = &app.cfg;
    let control = cfg.control.as_ref();
    if let Principal::EndUser { project_id, .. } = principal {
        if requested.is_some_and(|r| r != project_id) {
            return Err(no_project(requested.unwrap_or_default()));
        }
        let s = control
            .and_then(|ctl| ctl.project(project_id))
            .ok_or_else(|| no_project(project_id))?;
        return Ok((Scope::new(&s.tenant_id, &s.project_id), Some(s)));
    }
    if let Principal::ApiKey(c) = principal {
        if requested.is_some_and(|r| r != c.project_id) {
            return Err(no_project(requested.unwrap_or_default()));
        }
        let settings = control.and_then(|ctl| ctl.project(&c.project_id));
        return Ok((Scope::new(&c.tenant_id, &c.project_id), settings));
    }
    let id = requested.unwrap_or(&cfg.default_scope.project);
    if matches!(principal, Principal::LocalDeveloper) {
        // The local developer's trust is the loopback's: it covers the runtime's own default project only.
        return if id == cfg.default_scope.project {
            Ok((cfg.default_scope.clone(), None))
        } else {
            Err(no_project(id))
        };
    }
    if let Some(s) = control.and_then(|ctl| ctl.project(id)) {
        return Ok((Scope::new(&s.tenant_id, &s.project_id), Some(s)));
    }
    // The runtime's own default project (not managed by a control plane): operator and local developer only.
    let operator = matches!(principal, Principal::Admin | Principal::LocalDeveloper);
    if id == cfg.default_scope.project && operator {
        return Ok((cfg.default_scope.clone(), None));
    }
    Err(no_project(id))
}

/// Whether the runtime lets diagnostic (dev) endpoints answer at all.
pub fn dev_endpoints_on(app: &AppState) -> bool {
    app.cfg.dev_endpoints || (app.cfg.dev && !app.cfg.require_auth)
}

/// Checks `action` for the principal on the project.
pub fn authorize(
    app: &AppState,
    principal: &Principal,
    scope: &Scope,
    settings: Option<&ProjectSettings>,
    action: &str,
) -> Result<(), ApiError> {
    let policy = app.policy();
    let Some(info) = policy.action(action) else {
        return Err(ApiError::internal(format!("route checks unknown action `{action}`")));
    };
    if info.diagnostic && !dev_endpoints_on(app) {
        return Err(ApiError::new(
            ErrorCode::DevEndpointDisabled,
            format!("`{action}` is a dev endpoint; start the runtime with CFP_DEV_ENDPOINTS=true to enable it"),
        ));
    }
    match principal {
        Principal::LocalDeveloper if scope != &app.cfg.default_scope => return Err(no_project(&scope.project)),
        Principal::LocalDeveloper | Principal::Admin => return Ok(()),
        Principal::EndUser { project_id, .. } => {
            // End users call the API steps of their project and nothing else.
            if action != "step.invoke" || project_id != &scope.project {
                return Err(forbidden(action, "an end-user token does not allow"));
            }
        }
        Principal::ApiKey(c) => {
            if !policy.api_key_allows(c.role.as_deref().unwrap_or(""), c.actions.as_deref(), action) {
                return Err(forbidden(action, "this API key does not allow"));
            }
        }
        Principal::User(claims) => {
            let Some(s) = settings else {
                return Err(no_project(&scope.project));
            };
            let who = Subject::User {
                tenant: claims.tid.as_deref(),
                bindings: &claims.rb,
            };
            match policy.decide(&who, action, &s.path()) {
                Decision::Allowed => {}
                Decision::Invisible => return Err(no_project(&scope.project)),
                Decision::Forbidden => return Err(forbidden(action, "your role bindings do not allow")),
            }
        }
    }
    if info.diagnostic {
        if let Some(s) = settings.filter(|s| !s.diagnostics.allows(action)) {
            return Err(ApiError::new(ErrorCode::DevEndpointDisabled,
                format!(
                    "`{action}` is switched off for project `{}`; a project admin can switch it on in its diagnostics settings",
                    s.slug
                ),
            ));
        }
    }
    Ok(())
}

fn forbidden(action: &str, who: &str) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, format!("{who} `{action}` on this project"))
}

/// An end-user token for the project an API call addresses: a JWT whose (unverified) issuer is the project's
/// own OIDC provider rather than the control plane. `None` when that does not apply (the caller then goes
/// through [`authenticate`]); otherwise the verified end user or why not.
pub async fn end_user(
    app: &AppState,
    headers: &HeaderMap,
    project: Option<&str>,
) -> Option<Result<Principal, ApiError>> {
    let token = bearer(headers)?;
    if token.starts_with("cfp_") {
        return None;
    }
    let control = app.cfg.control.as_ref()?;
    // Unverified: only to pick which issuer's keys verify the token.
    let claims: serde_json::Value = jws::decode_json(jws::split(token)?.payload)?;
    let issuer = claims.get("iss")?.as_str()?;
    if issuer == control.config().issuer {
        return None;
    }
    let settings = control.project(project.unwrap_or(&app.cfg.default_scope.project))?;
    let oidc = settings.oidc.as_ref().filter(|o| o.issuer == issuer)?;
    Some(match app.end_users.verify(token, oidc).await {
        Ok(user) => Ok(Principal::EndUser {
            project_id: settings.project_id.clone(),
            sub: user.sub,
        }),
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %e, project = %settings.project_id, "end-user token could not be checked");
            Err(ApiError::new(
                ErrorCode::IdentityProviderUnavailable,
                "the project's identity provider cannot be reached to check the token; try again",
            ))
        }
        Err(cfp_access::OidcError::Expired) => Err(invalid_token("the end-user token has expired")),
        Err(e) => {
            tracing::debug!(reason = %e, "end-user token refused");
            Err(invalid_token("the end-user token is not valid for this project"))
        }
    })
}

/// Authenticates, resolves the project and checks the action: what every runtime route starts with.
pub async fn access(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    action: &str,
) -> Result<Access, ApiError> {
    let principal = authenticate(app, peer, headers, None, true).await?;
    let requested = requested_project(headers, query);
    let (scope, settings) = resolve_project(app, &principal, requested.as_deref())?;
    authorize(app, &principal, &scope, settings.as_deref(), action)?;
    Ok(Access {
        principal,
        scope,
        settings,
    })
}

/// How a long-lived connection (the `/live` feed, a stream socket) was authenticated, so that its credential can
/// be checked again while it stays open.
#[derive(Clone)]
pub struct Held {
    pub peer: SocketAddr,
    pub headers: HeaderMap,
    /// A token given outside the headers (query string, subprotocol).
    pub token: Option<String>,
    pub dev_trust: bool,
    pub action: &'static str,
}

/// Longest wait between two checks of a held credential when nothing happened (revocations and settings changes
/// wake it at once; a token's expiry is waited for exactly).
const RECHECK_AT_MOST: Duration = Duration::from_secs(60);

/// Resolves, with the refusal a new request would now get, when the credential a long-lived connection was opened
/// with no longer allows its action on its project: the access token expired, its session, the token or the user
/// was revoked (a removed role binding or membership revokes the user's earlier tokens), an API key was revoked or
/// expired, or the project was deleted. The local developer and the admin token never end. While the control plane
/// cannot be reached the connection stays: only a definite refusal ends it.
pub async fn credential_ended(app: AppState, access: Access, held: Held) -> ApiError {
    let control = match (&access.principal, app.cfg.control.clone()) {
        (Principal::LocalDeveloper | Principal::Admin, _) | (_, None) => std::future::pending().await,
        (_, Some(control)) => control,
    };
    let expires = match &access.principal {
        Principal::User(claims) => Some(claims.exp),
        Principal::ApiKey(c) => c.expires_unix(),
        _ => None,
    };
    let mut revocations = control.revocation_changes();
    let mut settings = control.settings_changes();
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let wait = expires
            .map(|e| Duration::from_secs(e.saturating_sub(now).max(0) as u64 + 1))
            .unwrap_or(RECHECK_AT_MOST)
            .min(RECHECK_AT_MOST);
        tokio::select! {
            _ = revocations.changed() => {}
            _ = settings.changed() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        // Exactly at expiry: verification allows a little clock skew, a connection kept open does not need it.
        if expires.is_some_and(|e| now >= e) {
            return invalid_token(
                "the credential this connection was opened with has expired; reconnect with a new one",
            );
        }
        let check = async {
            // An API key is re-checked against the revocations this runtime already holds, never by asking the
            // control plane: every revocation anywhere wakes every held connection, and thousands of them must not
            // turn one logout into thousands of control-plane calls. Users' tokens re-verify from the local cache.
            let principal = match &access.principal {
                Principal::ApiKey(c) if control.is_credential_revoked(&c.id) => {
                    return Err(invalid_token("the API key was revoked"))
                }
                Principal::ApiKey(_) => access.principal.clone(),
                _ => authenticate(&app, held.peer, &held.headers, held.token.as_deref(), held.dev_trust).await?,
            };
            let (scope, settings) = resolve_project(&app, &principal, Some(&access.scope.project))?;
            authorize(&app, &principal, &scope, settings.as_deref(), held.action)
        };
        match check.await {
            Ok(()) => {}
            Err(e) if e.status() == StatusCode::SERVICE_UNAVAILABLE => {}
            Err(e) => return e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_are_recognised_and_rebound_names_are_not() {
        for h in [
            "localhost",
            "localhost:3000",
            "LOCALHOST.",
            "app.localhost:5173",
            "127.0.0.1",
            "127.9.8.7:80",
            "[::1]:3000",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "",
            "evil.example",
            "localhost.evil.example:3000",
            "127.0.0.1.nip.io",
            "192.168.1.2:3000",
            "[::2]:3000",
            "0.0.0.0:3000",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(is_loopback_origin("http://localhost:5173"));
        assert!(is_loopback_origin("https://app.localhost"));
        assert!(is_loopback_origin("https://LOCALHOST"));
        assert!(is_loopback_origin("http://[::1]:5173"));
        assert!(is_loopback_origin("http://127.0.0.1"));
        assert!(!is_loopback_origin("null"));
        assert!(!is_loopback_origin("https://evil.example"));
        assert!(!is_loopback_origin("http://localhost.evil.example"));
        assert!(!is_loopback_origin("http://10.0.0.1:3000"));
    }

    #[test]
    fn the_token_of_an_authorization_value_is_found_whatever_its_scheme() {
        assert_eq!(authorization_token("Bearer abc"), "abc");
        assert_eq!(authorization_token("token  abc "), "abc");
        assert_eq!(authorization_token("abc"), "abc");
    }
}
