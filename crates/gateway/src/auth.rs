//! Who is calling, which project they address, and whether the permission matrix lets them.
//!
//! Principals: the local developer (dev mode, loopback, unless `--require-auth`), the holder of the admin token
//! (the installation's operator), a user with a control-plane access token (ES256 JWT, role bindings `rb`), and
//! a project API key (`cfp_live_…`, one role on one project). Worker tokens only connect workers
//! ([`crate::worker_ws`]). Every runtime route names the matrix action it needs; see `docs/runtime-api.md`.
//!
//! A project the caller has no binding for is invisible (404, the same answer as for one that does not exist);
//! one it can see but may not act on answers 403 naming the action.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use cfp_access::jws;
use cfp_access::jwt::{Claims, TokenError};
use cfp_access::policy::{Decision, Subject};
use cfp_access::{AuthError, Credential, ProjectSettings};
use cfp_engine::constant_time_eq;
use cfp_store::Scope;

use crate::error::ApiError;
use crate::AppState;

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

/// An authorized request: who, and the project it acts on.
#[derive(Debug, Clone)]
pub struct Access {
    pub principal: Principal,
    pub scope: Scope,
    /// The project's settings from the control plane (none for the runtime's own default project).
    pub settings: Option<Arc<ProjectSettings>>,
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
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "control plane unavailable for an authentication");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "control_plane_unavailable",
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

/// Who is calling. `token` overrides the `Authorization` header (stream clients send it in the query or a
/// subprotocol); `dev_trust` is false for callers that must not get the loopback convenience (foreign pages).
pub async fn authenticate(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    token: Option<&str>,
    dev_trust: bool,
) -> Result<Principal, ApiError> {
    let cfg = &app.cfg;
    if cfg.dev && !cfg.require_auth && dev_trust && peer.ip().is_loopback() {
        return Ok(Principal::LocalDeveloper);
    }
    let given = token
        .or_else(|| bearer(headers))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim));
    let Some(given) = given.filter(|t| !t.is_empty()) else {
        return Err(ApiError::unauthorized());
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
            StatusCode::FORBIDDEN,
            "dev_endpoint_disabled",
            format!("`{action}` is a dev endpoint; start the runtime with CFP_DEV_ENDPOINTS=true to enable it"),
        ));
    }
    match principal {
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
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "dev_endpoint_disabled",
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
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("{who} `{action}` on this project"),
    )
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
                StatusCode::SERVICE_UNAVAILABLE,
                "identity_provider_unavailable",
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
            let principal = authenticate(&app, held.peer, &held.headers, held.token.as_deref(), held.dev_trust).await?;
            let (scope, settings) = resolve_project(&app, &principal, Some(&access.scope.project))?;
            authorize(&app, &principal, &scope, settings.as_deref(), held.action)
        };
        match check.await {
            Ok(()) => {}
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {}
            Err(e) => return e,
        }
    }
}
