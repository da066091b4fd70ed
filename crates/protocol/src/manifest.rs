//! The step manifest a worker registers (one per step file) and the runtime's defaults for it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Api,
    Event,
    Cron,
    Noop,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Api => "api",
            StepKind::Event => "event",
            StepKind::Cron => "cron",
            StepKind::Noop => "noop",
        }
    }
}

/// An entry of `emits`: a topic, or `{ topic, label?, conditional? }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Emits {
    Topic(String),
    Labelled {
        topic: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conditional: Option<bool>,
    },
}

impl Emits {
    pub fn topic(&self) -> &str {
        match self {
            Emits::Topic(t) => t,
            Emits::Labelled { topic, .. } => topic,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    #[default]
    Standard,
    Fifo,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct QueueConfig {
    #[serde(default, rename = "type")]
    pub kind: QueueKind,
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub visibility_timeout: Option<u64>,
    #[serde(default)]
    pub delay_seconds: Option<u64>,
    #[serde(default)]
    pub concurrency: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HandlerConfig {
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Infrastructure {
    #[serde(default)]
    pub handler: Option<HandlerConfig>,
    #[serde(default)]
    pub queue: Option<QueueConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepManifest {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: StepKind,
    #[serde(default)]
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<String>,
    #[serde(default)]
    pub emits: Vec<Emits>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_emits: Vec<Emits>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_subscribes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_params: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<Infrastructure>,
    /// An API step called by a third party that signs its requests (CFP extension): callers without
    /// credentials reach it, and the worker checks the HMAC signature before the handler runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// The step's service-level objectives (`config.slo`, CFP extension), as sent: checked at registration with
    /// [`crate::slo::SloSpec::parse`] so that a malformed SLO refuses only this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Value>,
}

/// How a webhook step's requests are signed: `encoding(HMAC-algorithm(secret, body))` in `header`, after
/// `prefix`; with `timestampHeader`, the signed text is `<timestamp>.<body>` and the timestamp must be within
/// `toleranceSeconds`. The secret stays with the worker (an environment variable), never in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub header: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<u64>,
}

/// A stream file as a worker registers it (`*.stream.ts`: `{ name, schema, baseConfig, canAccess? }`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StreamManifest {
    pub name: String,
    #[serde(default)]
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// `default` or `custom`; CFP keeps every stream in PostgreSQL (a `custom` factory is not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageType>,
    /// The config has `canAccess(subscription, authContext)`: the runtime asks the worker (`access` frame).
    #[serde(default)]
    pub has_can_access: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Default,
    Custom,
}

/// Queue settings of an event or cron step with Motia's defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    pub kind: QueueKind,
    /// Retries after the first attempt: total attempts = max_retries + 1.
    pub max_retries: u32,
    pub visibility_timeout_s: u64,
    pub delay_s: u64,
    /// `None` = unlimited.
    pub concurrency: Option<u32>,
    pub timeout_s: u64,
}

pub const DEFAULT_MAX_RETRIES: u32 = 3;
pub const DEFAULT_VISIBILITY_TIMEOUT_S: u64 = 900;
pub const DEFAULT_HANDLER_TIMEOUT_S: u64 = 30;

impl StepManifest {
    pub fn queue_policy(&self) -> QueuePolicy {
        let infra = self.infrastructure.clone().unwrap_or_default();
        let q = infra.queue.unwrap_or_default();
        let timeout_s = infra
            .handler
            .and_then(|h| h.timeout)
            .unwrap_or(DEFAULT_HANDLER_TIMEOUT_S)
            .max(1);
        // A cron step is never retried by default (Motia runs cron once per tick).
        let default_retries = if self.kind == StepKind::Cron {
            0
        } else {
            DEFAULT_MAX_RETRIES
        };
        QueuePolicy {
            kind: q.kind,
            max_retries: q.max_retries.unwrap_or(default_retries),
            visibility_timeout_s: q
                .visibility_timeout
                .unwrap_or(DEFAULT_VISIBILITY_TIMEOUT_S)
                .max(timeout_s + 1),
            delay_s: q.delay_seconds.unwrap_or(0),
            concurrency: q.concurrency.filter(|c| *c > 0),
            timeout_s,
        }
    }

    /// The fields a step of its type must have (frame-level check; semantic checks happen at registration).
    pub fn check_shape(&self) -> Result<(), String> {
        let missing = |field: &str| Err(format!("{} step `{}` has no `{field}`", self.kind.as_str(), self.name));
        match self.kind {
            StepKind::Api if self.path.is_none() => missing("path"),
            StepKind::Api if self.method.is_none() => missing("method"),
            StepKind::Cron if self.cron.is_none() => missing("cron"),
            _ => Ok(()),
        }
    }

    /// The step's SLO, typed (`Ok(None)`: none; `Err`: why it is refused, the field named).
    pub fn slo_spec(&self) -> Result<Option<crate::slo::SloSpec>, String> {
        match &self.slo {
            None | Some(Value::Null) => Ok(None),
            Some(v) => crate::slo::SloSpec::parse(v).map(Some),
        }
    }

    /// The topics this step may emit; empty = any topic.
    pub fn emit_topics(&self) -> impl Iterator<Item = &str> {
        self.emits.iter().map(Emits::topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_motia() {
        let m: StepManifest =
            serde_json::from_value(serde_json::json!({"name":"a","type":"event","subscribes":["t"]})).unwrap();
        let p = m.queue_policy();
        assert_eq!(p.max_retries, 3);
        assert_eq!(p.visibility_timeout_s, 900);
        assert_eq!(p.kind, QueueKind::Standard);
        assert_eq!(p.concurrency, None);
    }

    #[test]
    fn visibility_timeout_exceeds_handler_timeout() {
        let m: StepManifest = serde_json::from_value(serde_json::json!({
            "name":"a","type":"event","subscribes":["t"],
            "infrastructure":{"handler":{"timeout":60},"queue":{"type":"fifo","visibilityTimeout":10,"maxRetries":0}}
        }))
        .unwrap();
        let p = m.queue_policy();
        assert_eq!(p.visibility_timeout_s, 61);
        assert_eq!(p.kind, QueueKind::Fifo);
        assert_eq!(p.max_retries, 0);
    }
}
