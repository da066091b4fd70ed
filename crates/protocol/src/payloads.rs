//! What an `invoke` frame carries in `input`, per trigger, and what an API step answers in `output`.
//!
//! These are the `ApiInput`, `EventInput`, `CronInput` and `ApiOutput` definitions of
//! `protocol/schema/worker-frames.schema.json`; `tests/schema_contract.rs` checks each against its definition,
//! and the TypeScript worker's types are generated from the same schema.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::body::BodyFrom;
use crate::frames::Trigger;

/// A query parameter or header: one value, or several when it was repeated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum StringOrStrings {
    One(String),
    Many(Vec<String>),
}

impl StringOrStrings {
    /// `["a"]` → `"a"`; several values stay a list.
    pub fn from_values(mut values: Vec<String>) -> Self {
        if values.len() == 1 {
            StringOrStrings::One(values.remove(0))
        } else {
            StringOrStrings::Many(values)
        }
    }

    pub fn values(&self) -> &[String] {
        match self {
            StringOrStrings::One(s) => std::slice::from_ref(s),
            StringOrStrings::Many(v) => v,
        }
    }
}

/// Query parameters or headers, by name.
pub type Multimap = BTreeMap<String, StringOrStrings>;

/// Who the runtime verified the caller to be.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CallerKind {
    LocalDeveloper,
    Admin,
    User,
    ApiKey,
    EndUser,
}

/// `req.auth` of an API step: the verified caller, never a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepAuth {
    pub kind: CallerKind,
    pub subject: String,
    pub tenant: String,
    pub project: String,
    /// The roles that apply to this project.
    pub roles: Vec<String>,
}

/// The `input` of an `api` invocation: the HTTP request, minus CFP credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiInput {
    pub method: String,
    pub path: String,
    pub path_params: BTreeMap<String, String>,
    pub query_params: Multimap,
    pub headers: Multimap,
    /// `null` for an uncredentialed call of a signed webhook step (always sent, so `req.auth` is never missing).
    #[serde(default)]
    pub auth: Option<StepAuth>,
    /// The body: parsed by the runtime (protocol 1) or by the worker (protocol 2).
    #[serde(flatten)]
    pub body: ApiBody,
}

/// An API input's body, in one of three forms (`protocol/schema/worker-frames.schema.json`, `ApiInput`):
/// `body` + `rawBody`, `bodyFrom` + `rawBody` or `bodyFrom` + `rawBodyRef`; any other mix does not parse.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ApiBody {
    /// Protocol 2, a body above the payload threshold: its bytes are in object storage; the worker reads them
    /// with `payload.get` and parses them as `bodyFrom` says.
    #[serde(rename_all = "camelCase")]
    Stored {
        body_from: BodyFrom,
        raw_body_ref: PayloadRef,
    },
    /// Protocol 2: the worker parses `rawBody` as `bodyFrom` says.
    #[serde(rename_all = "camelCase")]
    Raw {
        body_from: BodyFrom,
        /// Base64 of the exact request bytes.
        raw_body: String,
    },
    /// Protocol 1 (a protocol 2 worker accepts it too): the body parsed by the runtime (JSON, text) or `null`.
    #[serde(rename_all = "camelCase")]
    Parsed {
        body: Value,
        /// Base64 of the exact request bytes.
        raw_body: String,
    },
}

/// Where the bytes of a stored request body are: its object key, its size in bytes and its SHA-256 (lowercase
/// hex), which the worker checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PayloadRef {
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

impl<'de> Deserialize<'de> for ApiBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        /// A present `body` is `Some`, even when it is `null`.
        fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
            Value::deserialize(d).map(Some)
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Fields {
            #[serde(default, deserialize_with = "present")]
            body: Option<Value>,
            #[serde(default)]
            body_from: Option<BodyFrom>,
            #[serde(default)]
            raw_body: Option<String>,
            #[serde(default)]
            raw_body_ref: Option<PayloadRef>,
        }
        let Fields {
            body,
            body_from,
            raw_body,
            raw_body_ref,
        } = Fields::deserialize(d)?;
        match (body, body_from, raw_body, raw_body_ref) {
            (Some(body), None, Some(raw_body), None) => Ok(ApiBody::Parsed { body, raw_body }),
            (None, Some(body_from), Some(raw_body), None) => Ok(ApiBody::Raw { body_from, raw_body }),
            (None, Some(body_from), None, Some(raw_body_ref)) => Ok(ApiBody::Stored {
                body_from,
                raw_body_ref,
            }),
            _ => Err(D::Error::custom(
                "an api input carries its body as `body` + `rawBody`, `bodyFrom` + `rawBody` or `bodyFrom` + \
                 `rawBodyRef`, exactly one of them",
            )),
        }
    }
}

/// The `input` of an `event` invocation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventInput {
    pub topic: String,
    pub data: Value,
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id: Option<String>,
}

/// The `input` of a `cron` invocation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CronInput {
    /// When the tick was due (RFC 3339).
    pub scheduled_at: String,
}

/// An invocation's `trigger` and the `input` that goes with it, flattened into the `invoke` frame as
/// `"trigger": "event", "input": {...}`: a frame whose input does not fit its trigger does not parse.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "trigger", content = "input", rename_all = "lowercase")]
pub enum InvokeInput {
    Api(Box<ApiInput>),
    Event(EventInput),
    Cron(CronInput),
}

impl InvokeInput {
    pub fn trigger(&self) -> Trigger {
        match self {
            InvokeInput::Api(_) => Trigger::Api,
            InvokeInput::Event(_) => Trigger::Event,
            InvokeInput::Cron(_) => Trigger::Cron,
        }
    }
}

impl From<ApiInput> for InvokeInput {
    fn from(v: ApiInput) -> Self {
        InvokeInput::Api(Box::new(v))
    }
}

impl From<EventInput> for InvokeInput {
    fn from(v: EventInput) -> Self {
        InvokeInput::Event(v)
    }
}

impl From<CronInput> for InvokeInput {
    fn from(v: CronInput) -> Self {
        InvokeInput::Cron(v)
    }
}

/// How an API step's `body` is encoded in its output.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    Base64,
}

/// The `output` of a successful `api` invocation: the HTTP response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiOutput {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Multimap>,
    /// A string is sent as text (or as bytes with `bodyEncoding: "base64"`), `null` or absent as no body, any
    /// other value as JSON.
    #[serde(default)]
    pub body: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<BodyEncoding>,
}

impl ApiOutput {
    /// Reads an API step's `output` (the `output` of its `result` frame). Every refusal names what is wrong:
    /// a missing or out-of-range status, headers that are not an object, a header whose value is not a string
    /// or a list of strings (named; the workers send numbers and booleans as strings), an unknown `bodyEncoding`.
    pub fn from_output(output: Value) -> Result<ApiOutput, String> {
        let Value::Object(fields) = &output else {
            return Err(format!(
                "the handler returned {} instead of a response {{status, headers?, body?}}",
                json_kind(&output)
            ));
        };
        match fields.get("status") {
            Some(Value::Number(n)) if n.as_u64().is_some_and(|s| (100..=599).contains(&s)) => {}
            Some(other) => {
                return Err(format!(
                    "the handler returned status {other}; it must be an integer HTTP status (100-599)"
                ))
            }
            None => return Err("the handler returned a response without a status".into()),
        }
        match fields.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(headers)) => {
                for (name, value) in headers {
                    let bad = match value {
                        Value::String(_) => None,
                        Value::Array(items) => items
                            .iter()
                            .find(|v| !v.is_string())
                            .map(|v| format!("a list holding {}", json_kind(v))),
                        other => Some(json_kind(other).to_string()),
                    };
                    if let Some(bad) = bad {
                        return Err(format!(
                            "the handler returned header `{name}` with {bad} as its value; a header value must be a \
                             string or a list of strings"
                        ));
                    }
                }
            }
            Some(other) => {
                return Err(format!(
                    "the handler returned headers as {}; they must be an object of name to value",
                    json_kind(other)
                ))
            }
        }
        if let Some(encoding) = fields.get("bodyEncoding").filter(|e| !e.is_null()) {
            if encoding != "base64" {
                return Err(format!(
                    "the handler returned bodyEncoding {encoding}; the only encoding is \"base64\""
                ));
            }
        }
        let mut output = output;
        if output.get("headers").is_some_and(Value::is_null) {
            output.as_object_mut().unwrap().remove("headers");
        }
        if output.get("bodyEncoding").is_some_and(Value::is_null) {
            output.as_object_mut().unwrap().remove("bodyEncoding");
        }
        serde_json::from_value(output).map_err(|e| format!("the handler returned an invalid response: {e}"))
    }
}

/// "a number", "an object", … for messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
