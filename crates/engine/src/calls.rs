//! Calls a worker makes for its project (`call` frames other than `streams.*`, which the streams crate answers):
//! state reads and writes and signed-webhook claims. The gateway only routes the frame here, after checking the
//! invocation it names, NUL bytes and the worker's call budget.

use cfp_protocol::frames::RpcError;
use cfp_protocol::RpcCode;
use cfp_store::Scope;
use serde_json::{json, Value};

use crate::Engine;

fn str_param<'a>(params: &'a Value, name: &str) -> Result<&'a str, RpcError> {
    params.get(name).and_then(Value::as_str).ok_or_else(|| RpcError {
        code: RpcCode::BadRequest,
        message: format!("parameter `{name}` must be a string"),
    })
}

impl Engine {
    /// A `call` frame of a worker (other than `streams.*`): state and webhook claims, always within the worker's
    /// own project (`scope` comes from its token, never from the frame).
    pub async fn worker_call(&self, scope: &Scope, method: &str, params: &Value) -> Result<Value, RpcError> {
        calls(self, scope, method, params).await
    }
}

async fn calls(engine: &Engine, scope: &Scope, method: &str, params: &Value) -> Result<Value, RpcError> {
    let store = engine.store();
    let internal = |e: cfp_store::StoreError| {
        tracing::warn!(error = %e, method, "state call failed");
        RpcError {
            code: if e.is_transient() {
                RpcCode::Unavailable
            } else {
                RpcCode::Internal
            },
            message: format!("{method} failed: {e}"),
        }
    };
    match method {
        "state.get" => Ok(store
            .state_get(scope, str_param(params, "group")?, str_param(params, "key")?)
            .await
            .map_err(internal)?
            .unwrap_or(Value::Null)),
        "state.set" => {
            let value = params.get("value").cloned().unwrap_or(Value::Null);
            store
                .state_set(scope, str_param(params, "group")?, str_param(params, "key")?, &value)
                .await
                .map_err(internal)?;
            Ok(value)
        }
        "state.delete" => Ok(store
            .state_delete(scope, str_param(params, "group")?, str_param(params, "key")?)
            .await
            .map_err(internal)?
            .unwrap_or(Value::Null)),
        "state.getGroup" => Ok(json!(store
            .state_group(scope, str_param(params, "group")?)
            .await
            .map_err(internal)?)),
        "state.clear" => {
            store
                .state_clear(scope, str_param(params, "group")?)
                .await
                .map_err(internal)?;
            Ok(Value::Null)
        }
        "webhook.claim" => {
            // A signed webhook request the worker verified: recorded by the digest of its signature, so the same
            // request presented again within the window is a replay.
            let bad = |message: &str| RpcError {
                code: RpcCode::BadRequest,
                message: message.into(),
            };
            let digest = str_param(params, "digest")?;
            let digest = hex::decode(digest)
                .ok()
                .filter(|d| (16..=64).contains(&d.len()))
                .ok_or_else(|| bad("`digest` must be 16 to 64 bytes in hex"))?;
            let ttl = params
                .get("ttlSeconds")
                .and_then(Value::as_u64)
                .filter(|t| (1..=WEBHOOK_WINDOW_MAX_S).contains(t))
                .ok_or_else(|| bad("`ttlSeconds` must be a whole number from 1 to 604800 (7 days)"))?;
            let claimed = store.webhook_claim(scope, &digest, ttl).await.map_err(internal)?;
            Ok(json!({ "claimed": claimed }))
        }
        other => Err(RpcError {
            code: RpcCode::BadRequest,
            message: format!("unknown method `{other}`"),
        }),
    }
}

/// The longest replay window a webhook step may ask for.
const WEBHOOK_WINDOW_MAX_S: u64 = 7 * 24 * 3600;
