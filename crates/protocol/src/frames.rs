//! Frames of the worker protocol. `FromWorker` is what a worker sends, `ToWorker` what the runtime sends.
//! Both are JSON objects tagged by `type` (see `docs/protocol.md`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::manifest::{StepManifest, StreamManifest};
use crate::payloads::InvokeInput;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct WorkerInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

/// One event emitted by a handler.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Emit {
    pub topic: String,
    #[serde(default)]
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkerError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retriable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Api,
    Event,
    Cron,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub ts: i64,
    pub level: LogLevel,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A span that step code created with `@opentelemetry/api`, relayed by its worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChildSpan {
    pub span_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub start_ms: f64,
    pub end_ms: f64,
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FromWorker {
    Hello {
        protocol: u32,
        token: String,
        worker: WorkerInfo,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        capacity: Option<u32>,
    },
    Register {
        steps: Vec<StepManifest>,
        #[serde(default)]
        streams: Vec<StreamManifest>,
        /// Plugin tabs and node components for the workbench (crate::ui); absent when the project has none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<crate::ui::UiManifest>,
    },
    Result {
        id: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        #[serde(default)]
        emits: Vec<Emit>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<WorkerError>,
        #[serde(default, rename = "durationMs", skip_serializing_if = "Option::is_none")]
        duration_ms: Option<f64>,
    },
    Log {
        entries: Vec<LogEntry>,
    },
    /// Finished child spans of step code in the invocation `id` (`docs/tracing.md`).
    Spans {
        id: String,
        spans: Vec<ChildSpan>,
    },
    Call {
        id: u64,
        method: String,
        params: Value,
        #[serde(default, rename = "traceId", skip_serializing_if = "Option::is_none")]
        trace_id: Option<String>,
        #[serde(default, rename = "invocationId", skip_serializing_if = "Option::is_none")]
        invocation_id: Option<String>,
    },
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<i64>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<i64>,
    },
    Drain {},
    /// The answer to an `access` frame: what the stream's `canAccess` returned.
    #[serde(rename = "access_result")]
    AccessResult {
        id: String,
        allowed: bool,
    },
    /// The answer to a `source` frame: the step file's text, or why it cannot be read.
    #[serde(rename = "source_result")]
    SourceResult {
        id: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationError {
    pub step: String,
    pub file: String,
    pub code: crate::RegistrationCode,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InvokeFrame {
    pub id: String,
    pub step: String,
    pub attempt: u32,
    /// How many attempts the delivery has in all (`maxRetries + 1`; 1 for an API request): the worker names the
    /// attempt "n of max" when it reports a failure. Absent from older runtimes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    pub trace_id: String,
    /// W3C `traceparent` of this attempt's span (the parent of step code's spans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
    pub idempotency_key: String,
    pub timeout_ms: u64,
    /// `trigger` and `input` on the wire.
    #[serde(flatten)]
    pub input: InvokeInput,
}

impl InvokeFrame {
    pub fn trigger(&self) -> Trigger {
        self.input.trigger()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcError {
    pub code: crate::RpcCode,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToWorker {
    #[serde(rename_all = "camelCase")]
    Welcome {
        protocol: u32,
        worker_id: String,
        tenant: String,
        project: String,
        heartbeat_ms: u64,
        payload_threshold: u64,
    },
    Registered {
        steps: Vec<String>,
        errors: Vec<RegistrationError>,
    },
    Invoke(InvokeFrame),
    Reply {
        id: u64,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<RpcError>,
    },
    Cancel {
        id: String,
        reason: String,
    },
    Error {
        code: crate::SocketCode,
        message: String,
    },
    /// Asks the worker to run a stream's `canAccess(subscription, authContext)`; answered by `access_result`.
    #[serde(rename_all = "camelCase")]
    Access {
        id: String,
        stream: String,
        group_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
        auth_context: Value,
    },
    /// Asks the worker for the source text of one of its steps (the workbench's code view, a diagnostic
    /// endpoint); answered by `source_result`.
    Source {
        id: String,
        step: String,
    },
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<i64>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<i64>,
    },
    Drain {},
}

impl ToWorker {
    pub fn error(code: crate::SocketCode, message: impl Into<String>) -> Self {
        ToWorker::Error {
            code,
            message: message.into(),
        }
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("frames always serialize")
    }
}

/// Parses a frame from a worker, with a message that says what is wrong.
pub fn parse_from_worker(text: &str) -> Result<FromWorker, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("frame is not valid JSON: {e}"))?;
    let ty = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or("frame has no string `type`")?
        .to_string();
    let frame: FromWorker = serde_json::from_value(value).map_err(|e| format!("bad `{ty}` frame: {e}"))?;
    if let FromWorker::Register { steps, .. } = &frame {
        for step in steps {
            step.check_shape().map_err(|e| format!("bad `register` frame: {e}"))?;
        }
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hello() {
        let f = parse_from_worker(r#"{"type":"hello","protocol":1,"token":"t","worker":{"name":"w"}}"#).unwrap();
        assert!(matches!(f, FromWorker::Hello { protocol: 1, .. }));
    }

    #[test]
    fn names_the_problem() {
        assert!(parse_from_worker("{").unwrap_err().contains("not valid JSON"));
        assert!(parse_from_worker(r#"{"type":"result"}"#)
            .unwrap_err()
            .contains("bad `result` frame"));
        assert!(parse_from_worker(r#"{"type":"nope"}"#).unwrap_err().contains("nope"));
    }

    #[test]
    fn invoke_is_flat() {
        let f = ToWorker::Invoke(InvokeFrame {
            id: "i".into(),
            step: "s".into(),
            attempt: 1,
            max_attempts: Some(3),
            trace_id: "t".into(),
            traceparent: None,
            tracestate: None,
            idempotency_key: "k".into(),
            timeout_ms: 1000,
            input: InvokeInput::Cron(crate::payloads::CronInput {
                scheduled_at: "2026-01-01T00:00:00Z".into(),
            }),
        });
        let v: Value = serde_json::from_str(&f.to_text()).unwrap();
        assert_eq!(v["type"], "invoke");
        assert_eq!(v["traceId"], "t");
        assert_eq!(v["timeoutMs"], 1000);
        assert_eq!(v["maxAttempts"], 3);
        assert_eq!(v["trigger"], "cron");
        assert_eq!(v["input"]["scheduledAt"], "2026-01-01T00:00:00Z");
        assert_eq!(serde_json::from_value::<ToWorker>(v).unwrap(), f);
    }

    #[test]
    fn invoke_input_must_fit_its_trigger() {
        let frame = |trigger: &str, input: Value| {
            serde_json::json!({
                "type": "invoke", "id": "i", "step": "s", "trigger": trigger, "attempt": 1, "traceId": "t",
                "idempotencyKey": "k", "timeoutMs": 1, "input": input,
            })
        };
        let event = serde_json::json!({ "topic": "t", "data": 1, "eventId": "e" });
        assert!(serde_json::from_value::<ToWorker>(frame("event", event.clone())).is_ok());
        assert!(serde_json::from_value::<ToWorker>(frame("cron", event.clone())).is_err());
        assert!(serde_json::from_value::<ToWorker>(frame("api", event)).is_err());
        assert!(serde_json::from_value::<ToWorker>(frame("event", serde_json::json!({ "topic": "t" }))).is_err());
    }
}
