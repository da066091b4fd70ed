//! Motia's stock plugin endpoints under `/__motia/` (plugin-states: `GET|POST /__motia/state`,
//! `POST /__motia/state/delete`), answered from the project's state with Motia's shapes, and the gate every
//! `/__motia/…` route shares — these and the routes an app's own plugins register (`registerApi`, served as API
//! steps by [`crate::ingress`]): they are diagnostic endpoints, off unless dev endpoints are on
//! (`CFP_DEV_ENDPOINTS=true`; `cfp dev` sets it), and the caller's role is checked (`state.read`/`state.write`
//! here, `step.invoke` for plugin routes; never an end user of the project's own identity provider).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Access, Principal};
use crate::error::ApiError;
use crate::AppState;
use cfp_protocol::ErrorCode;

/// Items `GET /__motia/state` returns at most (over all groups).
pub const MAX_STATE_ITEMS: usize = 10_000;
/// Ids `POST /__motia/state/delete` takes at most.
const MAX_DELETE_IDS: usize = 1000;
/// Filters of `?filter=` at most.
const MAX_FILTERS: usize = 32;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/__motia/state", post(state_set).get(state_items))
        .route("/__motia/state/delete", post(state_delete))
}

/// Whether `path` is under `/__motia` (as routes match it: literally).
pub fn is_motia_path(path: &str) -> bool {
    path == "/__motia" || path.starts_with("/__motia/")
}

fn disabled() -> ApiError {
    ApiError::new(
        ErrorCode::DevEndpointDisabled,
        "`/__motia/…` routes (Motia's plugin endpoints) are dev endpoints; start the runtime with CFP_DEV_ENDPOINTS=true to enable them",
    )
}

/// The gate of a plugin route (an API step under `/__motia/`) once its caller is known: dev endpoints on, a
/// caller with credentials (no anonymous webhook call), and not an end user of the project's own provider.
pub fn check_plugin_route(app: &AppState, principal: Option<&Principal>) -> Result<(), ApiError> {
    if !crate::auth::dev_endpoints_on(app) {
        return Err(disabled());
    }
    match principal {
        None => Err(ApiError::unauthorized()),
        Some(Principal::EndUser { .. }) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "an end-user token does not allow `/__motia/…` routes (Motia's plugin endpoints)",
        )),
        Some(_) => Ok(()),
    }
}

async fn access(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    uri: &Uri,
    action: &str,
) -> Result<Access, ApiError> {
    if !crate::auth::dev_endpoints_on(app) {
        return Err(disabled());
    }
    crate::auth::access(app, peer, headers, uri.query(), action).await
}

type Caller = (State<AppState>, ConnectInfo<SocketAddr>, HeaderMap, Uri);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemsQuery {
    group_id: Option<String>,
    filter: Option<String>,
}

/// Motia's `StateFilter`: compares the string at `valueKey` of an item's value (and, for `valueKey: "key"`, the
/// item's key too).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Filter {
    value_key: String,
    operation: Op,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    IsNotNull,
    IsNull,
}

/// `GET /__motia/state?groupId=&filter=`: `[{groupId, key, type, value}]` as Motia's plugin-states answers.
async fn state_items(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    q: Result<Query<ItemsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let access = access(&app, peer, &headers, &uri, "state.read").await?;
    let Query(q) = q.map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.body_text()))?;
    let filters: Vec<Filter> = match q.filter.as_deref() {
        None | Some("") => Vec::new(),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("`filter` must be a JSON array of {{valueKey, operation, value}}: {e}"),
            )
        })?,
    };
    if filters.len() > MAX_FILTERS {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("at most {MAX_FILTERS} filters"),
        ));
    }
    let store = app.engine.store();
    let groups = match q.group_id {
        Some(g) => vec![g],
        None => store
            .state_groups(&access.scope)
            .await?
            .into_iter()
            .map(|(g, _)| g)
            .collect(),
    };
    let mut items = Vec::new();
    'groups: for group in groups {
        for (key, value) in store.state_items(&access.scope, &group).await? {
            if items.len() >= MAX_STATE_ITEMS {
                break 'groups;
            }
            if filters.iter().all(|f| f.matches(&key, &value)) {
                items.push(json!({ "groupId": group, "key": key, "type": type_of(&value), "value": value }));
            }
        }
    }
    Ok(Json(Value::Array(items)))
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

impl Filter {
    fn matches(&self, key: &str, value: &Value) -> bool {
        // Motia reads `value[valueKey]` and compares it as a string; a missing or non-string field is "no value".
        let field = value.get(&self.value_key).and_then(Value::as_str);
        let hit = compare(field, self.operation, &self.value);
        if self.value_key == "key" {
            return compare(Some(key), self.operation, &self.value) || hit;
        }
        hit
    }
}

fn compare(v: Option<&str>, op: Op, want: &str) -> bool {
    match (op, v) {
        (Op::Eq, v) => v == Some(want),
        (Op::Neq, v) => v != Some(want),
        (Op::IsNull, v) => v.is_none(),
        (Op::IsNotNull, v) => v.is_some(),
        (Op::NotContains, None) => true,
        (Op::NotContains, Some(v)) => !v.contains(want),
        (_, None) | (_, Some("")) => false,
        (Op::Gt, Some(v)) => v > want,
        (Op::Gte, Some(v)) => v >= want,
        (Op::Lt, Some(v)) => v < want,
        (Op::Lte, Some(v)) => v <= want,
        (Op::Contains, Some(v)) => v.contains(want),
        (Op::StartsWith, Some(v)) => v.starts_with(want),
        (Op::EndsWith, Some(v)) => v.ends_with(want),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetBody {
    key: String,
    group_id: String,
    #[serde(default)]
    value: Value,
}

/// `POST /__motia/state` `{key, groupId, value}` → `{key, groupId, value}`.
async fn state_set(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    body: Result<Json<SetBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let access = access(&app, peer, &headers, &uri, "state.write").await?;
    let Json(SetBody { key, group_id, value }) =
        body.map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.body_text()))?;
    crate::observe::check_state_name("groupId", &group_id)?;
    crate::observe::check_state_name("key", &key)?;
    crate::error::refuse_nul("value", &value)?;
    let details = json!({ "group": group_id, "key": key, "bytes": value.to_string().len() });
    let target = ("state", Some(format!("{group_id}/{key}")));
    let audit = crate::audit::action_event(&access, peer, &headers, "state.write", target, details);
    app.engine
        .store()
        .state_set_audited(&access.scope, &group_id, &key, &value, &audit)
        .await?;
    Ok(Json(json!({ "key": key, "groupId": group_id, "value": value })))
}

#[derive(Deserialize)]
struct DeleteBody {
    ids: Vec<String>,
}

/// `POST /__motia/state/delete` `{ids: ["<groupId>:<key>", …]}` → 204 (ids without a value are skipped, as in Motia).
async fn state_delete(
    (State(app), ConnectInfo(peer), headers, uri): Caller,
    body: Result<Json<DeleteBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let access = access(&app, peer, &headers, &uri, "state.write").await?;
    let Json(DeleteBody { ids }) = body.map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.body_text()))?;
    if ids.len() > MAX_DELETE_IDS {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("at most {MAX_DELETE_IDS} ids"),
        ));
    }
    for id in &ids {
        let Some((group, key)) = id.split_once(':') else {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                format!("id `{id}` is not `<groupId>:<key>`"),
            ));
        };
        let details = json!({ "group": group, "key": key });
        let target = ("state", Some(format!("{group}/{key}")));
        let audit = crate::audit::action_event(&access, peer, &headers, "state.delete", target, details);
        app.engine
            .store()
            .state_delete_audited(&access.scope, group, key, &audit)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
