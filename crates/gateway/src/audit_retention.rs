//! Audit retention and legal holds of the runtime's own database over HTTP (`/__cfp/api/audit/retention`,
//! `/__cfp/api/audit/holds`; docs/runtime-api.md, docs/audit.md "Retention and legal hold").
//!
//! The audited party does not control the destruction of its own evidence: setting a tenant's retention
//! (`audit.runtime.retention.write`) and releasing a hold (`audit.runtime.hold.release`) are granted only to
//! bindings at the system scope (system admin, system auditor); placing a hold (`audit.runtime.hold.place`) only
//! keeps more, so the tenant's admins and auditors may too. The operator of this runtime (admin token; the local
//! developer for the default tenant, as with usage) holds all three. Retention is never set below the runtime's
//! floor (`--audit-retention-min-days`). Each change is written with its audit entry in one transaction
//! (`audit.retention.set`, `audit.hold.placed`, `audit.hold.released`, in the tenant's chain); a refusal by the
//! permission matrix is an `authz.denied` entry.
//!
//! Reading (`GET …/audit/retention`) needs `audit.runtime.read` on the selected project and shows its tenant; the
//! operator may name any tenant (`?tenant=`, `system` for the runtime's system chain).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{delete, get};
use axum::{Json, Router};
use cfp_access::policy::{Decision, Subject};
use cfp_audit::Event;
use cfp_protocol::ErrorCode;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::AppState;

pub const RETENTION_WRITE: &str = "audit.runtime.retention.write";
pub const HOLD_PLACE: &str = "audit.runtime.hold.place";
pub const HOLD_RELEASE: &str = "audit.runtime.hold.release";
/// Longest hold reason, in characters (the table's check).
pub const MAX_REASON: usize = 1000;
/// Longest retention, in days (100 years, the table's check).
pub const MAX_DAYS: u64 = 36_500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit/retention", get(read).put(set_retention))
        .route("/audit/holds", axum::routing::post(place_hold))
        .route("/audit/holds/{id}", delete(release_hold))
}

type Caller = (State<AppState>, ConnectInfo<SocketAddr>, HeaderMap, Uri);
type Body = Result<Json<Value>, axum::extract::rejection::JsonRejection>;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidBody, message)
}

/// The query's `tenant`, refusing any other parameter but `project`.
fn tenant_param(uri: &Uri) -> Result<Option<String>, ApiError> {
    let mut tenant = None;
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "project" => {}
            "tenant" if tenant.is_none() && !v.is_empty() && v.len() <= 200 && !v.contains('\0') => {
                tenant = Some(v.to_string())
            }
            "tenant" => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    "`tenant` must be given once, 1 to 200 bytes without NUL",
                ))
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("`{other}` is not a parameter of this endpoint (it takes tenant, project)"),
                ))
            }
        }
    }
    Ok(tenant)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(256).collect())
}

/// Who acts, from where: the base of the change's audit entry (kind, tenant, target and details are set by the
/// store).
fn base_event(principal: &Principal, peer: SocketAddr, headers: &HeaderMap, kind: &str) -> Event {
    let (actor, sid) = crate::audit::actor(principal);
    let mut e = Event::new(kind, actor);
    e.sid = sid;
    e.addr = Some(peer.ip().to_string());
    e.ua = header(headers, "user-agent");
    e.request_id = header(headers, "x-request-id");
    e
}

/// The caller and the tenant it acts on, once `action` is allowed there: the `tenant` parameter, else the tenant of
/// the project the request selects. A refusal by the matrix (403) is recorded as `authz.denied` in that tenant's
/// chain; a tenant the caller cannot see is not found.
async fn tenant_access(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    uri: &Uri,
    method: &Method,
    action: &str,
) -> Result<(Principal, String), ApiError> {
    let principal = crate::auth::authenticate(app, peer, headers, None, true).await?;
    let tenant = match tenant_param(uri)? {
        Some(t) => t,
        None => {
            let project = crate::auth::requested_project(headers, uri.query());
            let (scope, settings) = crate::auth::resolve_project(app, &principal, project.as_deref())?;
            // the project names the tenant; a user with no binding on it learns no more than elsewhere: 404
            if let (Principal::User(claims), Some(s)) = (&principal, settings.as_deref()) {
                if !app.policy().sees(&claims.rb, &s.path()) {
                    return Err(ApiError::not_found(format!(
                        "no project `{}` on this runtime",
                        scope.project
                    )));
                }
            }
            scope.tenant
        }
    };
    let decision = match &principal {
        Principal::Admin => Decision::Allowed,
        Principal::LocalDeveloper if tenant == app.cfg.default_scope.tenant => Decision::Allowed,
        Principal::LocalDeveloper => Decision::Invisible,
        Principal::EndUser { .. } => Decision::Forbidden,
        Principal::ApiKey(c) if c.tenant_id == tenant => Decision::Forbidden,
        Principal::ApiKey(_) => Decision::Invisible,
        Principal::User(claims) => app.policy().decide_tenant(
            &Subject::User {
                tenant: claims.tid.as_deref(),
                bindings: &claims.rb,
            },
            action,
            &tenant,
        ),
    };
    match decision {
        Decision::Allowed => Ok((principal, tenant)),
        Decision::Invisible => Err(ApiError::not_found(format!("no tenant `{tenant}` on this runtime"))),
        Decision::Forbidden => {
            let mut e = base_event(&principal, peer, headers, "authz.denied");
            e.status = "denied";
            e.code = Some("forbidden".into());
            if tenant != "system" {
                e.tenant = Some(tenant.clone());
            }
            e.target = Some(("tenant".into(), Some(tenant.clone())));
            e.details = json!({ "permission": action, "method": method.as_str(), "route": uri.path() })
                .as_object()
                .cloned()
                .unwrap_or_default();
            crate::audit::record(app, e).await;
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "`{action}` on tenant `{tenant}` is not allowed: the audited tenant does not control how long \
                     its audit evidence is kept (only the platform sets retention and releases holds)"
                ),
            ))
        }
    }
}

/// The tenant's retention, the runtime's default and floor, its holds and its pruned ranges.
async fn view(app: &AppState, tenant: &str) -> Result<Value, ApiError> {
    let r = app.engine.store().audit_retention_of(tenant).await?;
    Ok(json!({
        "tenant": tenant,
        "days": r.days,
        "defaultDays": app.cfg.audit_retention_days,
        "minDays": app.cfg.audit_retention_min_days,
        "holds": r.holds,
        "pruned": r.pruned,
    }))
}

async fn read((State(app), ConnectInfo(peer), headers, uri): Caller) -> Result<Json<Value>, ApiError> {
    let asked = tenant_param(&uri)?;
    let access = crate::auth::access(&app, peer, &headers, uri.query(), crate::audit::READ).await?;
    let operator = matches!(access.principal, Principal::Admin | Principal::LocalDeveloper);
    let tenant = match asked {
        None => access.scope.tenant.clone(),
        Some(t) if t == access.scope.tenant || operator => t,
        Some(t) => return Err(ApiError::not_found(format!("no tenant `{t}` on this runtime"))),
    };
    Ok(Json(view(&app, &tenant).await?))
}

/// The body as an object with exactly the fields named (all required).
fn object(body: Body, fields: &[&str]) -> Result<serde_json::Map<String, Value>, ApiError> {
    let Json(body) = body.map_err(|e| invalid(e.body_text()))?;
    let Value::Object(map) = body else {
        return Err(invalid(format!(
            "the body must be a JSON object with {}",
            fields.join(", ")
        )));
    };
    if let Some(k) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(invalid(format!(
            "`{k}` is not a field of this body (it takes {})",
            fields.join(", ")
        )));
    }
    if let Some(f) = fields.iter().find(|f| !map.contains_key(**f)) {
        return Err(invalid(format!("`{f}` is required")));
    }
    Ok(map)
}

/// `PUT /audit/retention {"days": n|null}`: at least the floor, at most [`MAX_DAYS`]; null: the runtime's default.
async fn set_retention(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    method: Method,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let (principal, tenant) = tenant_access(&app, peer, &headers, &uri, &method, RETENTION_WRITE).await?;
    let map = object(body, &["days"])?;
    let floor = app.cfg.audit_retention_min_days;
    let days = match &map["days"] {
        Value::Null => None,
        v => match v.as_u64() {
            Some(d) if d > MAX_DAYS => return Err(invalid(format!("`days` must be at most {MAX_DAYS}"))),
            Some(d) if d >= u64::from(floor) => Some(d as u32),
            _ => {
                return Err(invalid(format!(
                    "`days` must be a whole number of at least {floor} (the runtime's audit retention floor, \
                     --audit-retention-min-days), or null for the default"
                )))
            }
        },
    };
    let by = base_event(&principal, peer, &headers, "audit.retention.set");
    app.engine.store().audit_set_retention_by(&tenant, days, by).await?;
    Ok(Json(view(&app, &tenant).await?))
}

/// `POST /audit/holds {"reason"}` → 201 with the hold.
async fn place_hold(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    method: Method,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (principal, tenant) = tenant_access(&app, peer, &headers, &uri, &method, HOLD_PLACE).await?;
    let map = object(body, &["reason"])?;
    let reason = match map["reason"].as_str() {
        Some(r) if !r.trim().is_empty() && r.chars().count() <= MAX_REASON && !r.contains('\0') => r,
        _ => {
            return Err(invalid(format!(
                "`reason` must be a string of 1 to {MAX_REASON} characters, not blank, without NUL"
            )))
        }
    };
    let by = base_event(&principal, peer, &headers, "audit.hold.placed");
    let id = app.engine.store().audit_place_hold_by(&tenant, reason, by).await?;
    let hold = held(&app, &tenant, id).await?;
    Ok((StatusCode::CREATED, Json(hold)))
}

/// The hold `id` of `tenant`, as the API shows it.
async fn held(app: &AppState, tenant: &str, id: i64) -> Result<Value, ApiError> {
    let r = app.engine.store().audit_retention_of(tenant).await?;
    let hold = r.holds.into_iter().find(|h| h.id == id);
    Ok(serde_json::to_value(hold).unwrap_or(Value::Null))
}

/// `DELETE /audit/holds/{id}`: releases a hold in force (kept, with who released it and when); 404 when the tenant
/// has no such hold in force.
async fn release_hold(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    method: Method,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (principal, tenant) = tenant_access(&app, peer, &headers, &uri, &method, HOLD_RELEASE).await?;
    let id = match id.parse::<i64>() {
        Ok(n) if n > 0 && id.len() <= 16 && id.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidPath,
                "a hold id is a positive whole number of at most 16 digits",
            ))
        }
    };
    let by = base_event(&principal, peer, &headers, "audit.hold.released");
    if !app.engine.store().audit_release_hold_by(&tenant, id, by).await? {
        return Err(ApiError::not_found(format!(
            "no legal hold {id} in force for tenant `{tenant}`"
        )));
    }
    Ok(Json(held(&app, &tenant, id).await?))
}
