//! Request bodies a protocol 2 worker reads with `payload.get` (docs/protocol.md, "API input"): ingress stored the
//! body ([`cfp_store::payloads::BodyUpload`]) and the invocation carries `rawBodyRef`. Only the worker running
//! that invocation, while it runs, may read that key; anything else is refused naming what was wrong and reads
//! nothing. Ingress deletes the body when the invocation ends; [`sweeper`] removes what a crash left.

use std::time::Duration;

use base64::Engine as _;
use cfp_protocol::frames::RpcError;
use cfp_protocol::RpcCode;
use serde_json::{json, Value};

use crate::{Engine, WorkerId};

/// A stored body older than this that no invocation here claims is an orphan: a body lives only while its API
/// request waits, and the runtime's request timeout ceiling is far below this.
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);
/// How often the sweep runs, and how many objects one sweep looks at.
const SWEEP_EVERY: Duration = Duration::from_secs(300);
const SWEEP_MAX: usize = 10_000;

/// Marks `key` as the body of invocation `id` while it is alive; dropping it ends the mark.
pub struct BodyClaim {
    engine: Engine,
    id: String,
}

impl Drop for BodyClaim {
    fn drop(&mut self) {
        self.engine.inner().bodies.lock().unwrap().remove(&self.id);
    }
}

impl Engine {
    /// Records that invocation `id` carries the stored body `key` (read only by its worker, while it runs).
    pub(crate) fn claim_body(&self, id: &str, key: &str) -> BodyClaim {
        self.inner()
            .bodies
            .lock()
            .unwrap()
            .insert(id.to_string(), key.to_string());
        BodyClaim {
            engine: self.clone(),
            id: id.to_string(),
        }
    }

    /// Whether a stored body belongs to an invocation of this runtime that is still alive.
    pub fn body_in_flight(&self, key: &str) -> bool {
        self.inner().bodies.lock().unwrap().values().any(|k| k == key)
    }

    /// `payload.get {key, offset?}` of `worker` for `invocation`: at most 256 KiB of the body from `offset`, as
    /// `{data (base64), offset, size}`. The key must be the body of that invocation, in flight on that worker.
    pub async fn payload_get(
        &self,
        worker: WorkerId,
        invocation: Option<&str>,
        params: &Value,
    ) -> Result<Value, RpcError> {
        let refuse = |code: RpcCode, message: String| RpcError { code, message };
        let Some(inv) = invocation else {
            return Err(refuse(
                RpcCode::BadRequest,
                "`payload.get` must name the invocation whose body it reads (`invocationId`)".into(),
            ));
        };
        let Some(key) = params.get("key").and_then(Value::as_str) else {
            return Err(refuse(RpcCode::BadRequest, "parameter `key` must be a string".into()));
        };
        let offset = match params.get("offset") {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_u64().ok_or_else(|| {
                refuse(
                    RpcCode::BadRequest,
                    "parameter `offset` must be a whole number of bytes".into(),
                )
            })?,
        };
        let running = self
            .inner()
            .pending
            .lock()
            .unwrap()
            .get(inv)
            .is_some_and(|p| p.worker == worker);
        if !running {
            return Err(refuse(
                RpcCode::UnknownInvocation,
                format!("`payload.get` names invocation `{inv}`, which this worker is not running"),
            ));
        }
        let owned = self.inner().bodies.lock().unwrap().get(inv).is_some_and(|k| k == key);
        if !owned {
            return Err(refuse(
                RpcCode::NotFound,
                format!("invocation `{inv}` has no stored request body `{key}`"),
            ));
        }
        let (bytes, size) = self.store().payloads().body_chunk(key, offset).await.map_err(|e| {
            tracing::warn!(error = %e, key, "reading a stored request body failed");
            refuse(
                if e.is_transient() {
                    RpcCode::Unavailable
                } else {
                    RpcCode::BadRequest
                },
                format!("payload.get failed: {e}"),
            )
        })?;
        Ok(json!({
            "data": base64::engine::general_purpose::STANDARD.encode(&bytes),
            "offset": offset,
            "size": size,
        }))
    }
}

/// Every [`SWEEP_EVERY`], deletes stored request bodies older than [`ORPHAN_AGE`] that no invocation here claims
/// (at most [`SWEEP_MAX`] objects looked at per sweep).
pub(crate) async fn sweeper(engine: Engine) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        let swept = engine
            .store()
            .payloads()
            .sweep_bodies(ORPHAN_AGE, SWEEP_MAX, |key| engine.body_in_flight(key))
            .await;
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "swept request bodies a crash left"),
            Err(e) => tracing::warn!(error = %e, "sweeping stored request bodies failed"),
        }
    }
}
