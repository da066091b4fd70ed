//! `GET /__cfp/api/usage` (docs/usage.md, docs/runtime-api.md): a project's or a tenant's usage counters per
//! hour or day, under `usage.read`. A tenant's usage is the sum over its projects; only principals the matrix
//! allows on the tenant itself read it (never a project API key, never a project role).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::get;
use axum::{Json, Router};
use cfp_access::policy::{Decision, Subject};
use cfp_protocol::ErrorCode;
use cfp_store::usage::{Counts, UsageGranularity, UsageScope};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::AppState;

const ACTION: &str = "usage.read";
/// Most buckets one request covers (about 83 days of hours, 5 years of days).
pub const MAX_BUCKETS: i64 = 2000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/usage", get(usage))
}

#[derive(Deserialize)]
struct UsageQuery {
    scope: Option<String>,
    tenant: Option<String>,
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
}

/// 400 `invalid_query`; the message names the parameter (`field`) first.
fn bad(field: &str, message: String) -> ApiError {
    debug_assert!(message.contains(&format!("`{field}`")));
    ApiError::new(ErrorCode::InvalidQuery, message)
}

/// Milliseconds since the epoch from a number or an RFC 3339 time.
fn time_ms(field: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            bad(
                field,
                format!("`{field}` must be milliseconds since the epoch or an RFC 3339 time, got `{v}`"),
            )
        })
}

async fn usage(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenant_scope = match q.scope.as_deref() {
        None | Some("project") => false,
        Some("tenant") => true,
        Some(s) => {
            return Err(bad(
                "scope",
                format!("`scope` must be `tenant` or `project`, got `{s}`"),
            ))
        }
    };
    let granularity = match q.granularity.as_deref() {
        None => UsageGranularity::Hour,
        Some(g) => UsageGranularity::parse(g).ok_or_else(|| {
            bad(
                "granularity",
                format!("`granularity` must be `hour` or `day`, got `{g}`"),
            )
        })?,
    };
    if q.tenant.is_some() && !tenant_scope {
        return Err(bad("tenant", "`tenant` applies to `scope=tenant` only".into()));
    }
    let bucket = i64::from(granularity.seconds()) * 1000;
    let now = app.engine.config().clock.now().timestamp_millis();
    let to = q.to.as_deref().map(|v| time_ms("to", v)).transpose()?.unwrap_or(now);
    let default_span = match granularity {
        UsageGranularity::Hour => 48,
        UsageGranularity::Day => 31,
    } * bucket;
    // A range starts on a bucket boundary, so the bucket `from` falls in is included.
    let from = q
        .from
        .as_deref()
        .map(|v| time_ms("from", v))
        .transpose()?
        .unwrap_or(to - default_span);
    if from >= to {
        return Err(bad("from", "`from` must be before `to`".into()));
    }
    let from = from.div_euclid(bucket) * bucket;
    if (to - from + bucket - 1) / bucket > MAX_BUCKETS {
        return Err(bad(
            "from",
            format!(
                "`from`..`to` covers more than {MAX_BUCKETS} {}s; narrow it or use a coarser `granularity`",
                granularity.as_str()
            ),
        ));
    }
    let scope = if tenant_scope {
        UsageScope::Tenant(tenant_access(&app, peer, &headers, uri.query(), q.tenant.as_deref()).await?)
    } else {
        UsageScope::Project(
            crate::auth::access(&app, peer, &headers, uri.query(), ACTION)
                .await?
                .scope,
        )
    };
    let rows = app
        .engine
        .store()
        .usage(&scope, granularity, from, to, MAX_BUCKETS)
        .await?;
    let mut totals = Counts::default();
    for r in &rows {
        totals.add(&r.counts);
    }
    let (kind, tenant, project) = match &scope {
        UsageScope::Tenant(t) => ("tenant", t.clone(), None),
        UsageScope::Project(s) => ("project", s.tenant.clone(), Some(s.project.clone())),
    };
    Ok(Json(json!({
        "scope": kind,
        "tenant": tenant,
        "project": project,
        "granularity": granularity.as_str(),
        "from": from,
        "to": to,
        "rows": rows,
        "totals": totals,
    })))
}

/// The tenant a `scope=tenant` request reads, once the caller is allowed `usage.read` on it: the `tenant`
/// parameter, else the tenant of the project the request selects (as every runtime route selects one).
async fn tenant_access(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    requested: Option<&str>,
) -> Result<String, ApiError> {
    let principal = crate::auth::authenticate(app, peer, headers, None, true).await?;
    let tenant = match requested {
        Some(t) => t.to_string(),
        None => {
            let project = crate::auth::requested_project(headers, query);
            crate::auth::resolve_project(app, &principal, project.as_deref())?
                .0
                .tenant
        }
    };
    let no_tenant = || ApiError::not_found(format!("no tenant `{tenant}` on this runtime"));
    let forbidden = |who: &str| {
        ApiError::new(
            ErrorCode::Forbidden,
            format!("{who} `{ACTION}` on tenant `{tenant}` (a project's usage is read with `scope=project`)"),
        )
    };
    let policy = app.policy();
    let decision = match &principal {
        Principal::Admin => Decision::Allowed,
        Principal::LocalDeveloper if tenant == app.cfg.default_scope.tenant => Decision::Allowed,
        Principal::LocalDeveloper => Decision::Invisible,
        Principal::EndUser { .. } => return Err(forbidden("an end-user token does not allow")),
        Principal::ApiKey(c) => {
            if c.tenant_id == tenant {
                return Err(forbidden("an API key acts on its own project only; it does not allow"));
            }
            Decision::Invisible
        }
        Principal::User(claims) => policy.decide_tenant(
            &Subject::User {
                tenant: claims.tid.as_deref(),
                bindings: &claims.rb,
            },
            ACTION,
            &tenant,
        ),
    };
    match decision {
        Decision::Allowed => Ok(tenant),
        Decision::Forbidden => Err(forbidden("your role bindings do not allow")),
        Decision::Invisible => Err(no_tenant()),
    }
}
