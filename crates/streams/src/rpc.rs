//! Worker RPC: `ctx.streams.<name>.get|set|delete|getGroup|send` arrive as `call` frames with methods
//! `streams.*` (docs/protocol.md). Always within the worker's own project.

use cfp_protocol::frames::RpcError;
use cfp_protocol::RpcCode;
use cfp_store::streams::{ChangeKind, StreamChange};
use cfp_store::{Scope, StoreError};
use serde_json::{json, Value};

use crate::Streams;

/// Longest stream name, group id or item id accepted (bytes).
const MAX_KEY: usize = 1024;

fn bad(message: impl Into<String>) -> RpcError {
    RpcError {
        code: RpcCode::BadRequest,
        message: message.into(),
    }
}

fn key<'a>(params: &'a Value, name: &str) -> Result<&'a str, RpcError> {
    let v = params
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("parameter `{name}` must be a string")))?;
    if v.len() > MAX_KEY {
        return Err(bad(format!("parameter `{name}` is longer than {MAX_KEY} bytes")));
    }
    Ok(v)
}

impl Streams {
    /// Runs a `streams.*` method for a worker of `scope`.
    pub async fn rpc(&self, scope: &Scope, method: &str, params: &Value) -> Result<Value, RpcError> {
        let internal = |e: StoreError| match e {
            StoreError::Invalid(message) => bad(message),
            e => {
                tracing::warn!(error = %e, method, "stream call failed");
                RpcError {
                    code: if e.is_transient() {
                        RpcCode::Unavailable
                    } else {
                        RpcCode::Internal
                    },
                    message: format!("{method} failed: {e}"),
                }
            }
        };
        let stream = key(params, "stream")?;
        if stream.is_empty() {
            return Err(bad("parameter `stream` must not be empty"));
        }
        if self.find(scope, stream).await.map_err(internal)?.is_none() {
            return Err(RpcError {
                code: RpcCode::NotFound,
                message: self.unknown_stream(scope, stream).await,
            });
        }
        let group = key(params, "groupId")?;
        let origin = self.config().instance_id.as_str();
        let store = self.store();
        match method {
            "streams.get" => Ok(store
                .stream_get(scope, stream, group, key(params, "id")?)
                .await
                .map_err(internal)?
                .unwrap_or(Value::Null)),
            "streams.set" => {
                let data = params.get("data").cloned().ok_or_else(|| bad("parameter `data` is required"))?;
                let written = store
                    .stream_set(scope, stream, group, key(params, "id")?, data, origin)
                    .await
                    .map_err(internal)?;
                self.announced(written.notice);
                self.deliver(&written.change);
                Ok(written.change.data)
            }
            "streams.delete" => {
                let change = store
                    .stream_delete(scope, stream, group, key(params, "id")?, origin)
                    .await
                    .map_err(internal)?;
                Ok(match change {
                    Some(written) => {
                        self.announced(written.notice);
                        self.deliver(&written.change);
                        written.change.data
                    }
                    None => Value::Null,
                })
            }
            "streams.getGroup" => Ok(json!(store.stream_group(scope, stream, group).await.map_err(internal)?)),
            "streams.send" => {
                let id = match params.get("id") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(key(params, "id")?.to_string()),
                };
                let event = params.get("event").ok_or_else(|| bad("parameter `event` ({type, data}) is required"))?;
                let ty = event
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("`event.type` must be a string"))?;
                let change = StreamChange {
                    tenant: scope.tenant.clone(),
                    project: scope.project.clone(),
                    stream: stream.into(),
                    group: group.into(),
                    id,
                    kind: ChangeKind::Event,
                    data: json!({ "type": ty, "data": event.get("data").cloned().unwrap_or(Value::Null) }),
                    seq: None,
                    origin: origin.into(),
                };
                let notice = store.stream_announce(&change).await.map_err(internal)?;
                self.announced(notice);
                self.deliver(&change);
                Ok(Value::Null)
            }
            other => Err(bad(format!(
                "unknown method `{other}`; stream methods: streams.get, streams.set, streams.delete, streams.getGroup, streams.send"
            ))),
        }
    }
}
