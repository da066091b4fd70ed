//! The serde types the runtime sends are the ones `protocol/schema/worker-frames.schema.json` describes (the
//! TypeScript worker's types are generated from that schema): each typed invocation input and API output,
//! serialized, is valid against the schema, and its fields are exactly the definition's properties.

use std::collections::BTreeMap;

use cfp_protocol::payloads::{ApiBody, ApiInput, ApiOutput, BodyEncoding, CallerKind, CronInput, EventInput, StepAuth};
use cfp_protocol::{InvokeFrame, InvokeInput, StringOrStrings, ToWorker};
use serde_json::{json, Value};

const SCHEMA: &str = include_str!("../../../protocol/schema/worker-frames.schema.json");

fn schema() -> Value {
    serde_json::from_str(SCHEMA).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).unwrap()
}

fn api_input(auth: Option<StepAuth>) -> ApiInput {
    ApiInput {
        method: "POST".into(),
        path: "/todo/1".into(),
        path_params: BTreeMap::from([("id".into(), "1".into())]),
        query_params: BTreeMap::from([
            ("a".into(), StringOrStrings::One("1".into())),
            ("b".into(), StringOrStrings::Many(vec!["x".into(), "y".into()])),
        ]),
        headers: BTreeMap::from([("content-type".into(), StringOrStrings::One("application/json".into()))]),
        auth,
        body: ApiBody::Parsed {
            body: json!({ "title": "t" }),
            raw_body: "eyJ0aXRsZSI6InQifQ==".into(),
        },
    }
}

fn invoke(input: InvokeInput) -> Value {
    let frame = ToWorker::Invoke(InvokeFrame {
        id: "inv-1".into(),
        step: "S".into(),
        attempt: 1,
        max_attempts: Some(1),
        trace_id: "t".into(),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        tracestate: None,
        idempotency_key: "k".into(),
        timeout_ms: 1000,
        input,
    });
    serde_json::from_str(&frame.to_text()).unwrap()
}

fn inputs() -> Vec<(&'static str, InvokeInput)> {
    let auth = StepAuth {
        kind: CallerKind::ApiKey,
        subject: "key-1".into(),
        tenant: "t".into(),
        project: "p".into(),
        roles: vec!["developer".into()],
    };
    vec![
        ("ApiInput", api_input(Some(auth)).into()),
        ("ApiInput", api_input(None).into()),
        (
            "ApiInput",
            ApiInput {
                body: ApiBody::Raw {
                    body_from: cfp_protocol::BodyFrom::Json,
                    raw_body: "eyJ0aXRsZSI6InQifQ==".into(),
                },
                ..api_input(None)
            }
            .into(),
        ),
        (
            "ApiInput",
            ApiInput {
                body: ApiBody::Stored {
                    body_from: cfp_protocol::BodyFrom::Text,
                    raw_body_ref: cfp_protocol::PayloadRef {
                        key: "bodies/t/p/0b9d".into(),
                        size: 300_000,
                        sha256: "ab".repeat(32),
                    },
                },
                ..api_input(None)
            }
            .into(),
        ),
        (
            "EventInput",
            InvokeInput::Event(EventInput {
                topic: "t".into(),
                data: json!([1]),
                event_id: "e".into(),
                message_group_id: Some("g".into()),
            }),
        ),
        (
            "CronInput",
            InvokeInput::Cron(CronInput {
                scheduled_at: "2026-01-01T00:00:00Z".into(),
            }),
        ),
    ]
}

#[test]
fn typed_invocations_are_valid_frames() {
    let v = validator();
    for (def, input) in inputs() {
        let frame = invoke(input);
        let errors: Vec<String> = v.iter_errors(&frame).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{def}: {errors:?} in {frame}");
        // What the runtime sends parses back into the same frame.
        let again = serde_json::to_value(serde_json::from_value::<ToWorker>(frame.clone()).unwrap()).unwrap();
        assert_eq!(again, frame, "{def}");
    }
}

/// A mistyped field (a number where the schema wants a string) is caught by the schema: the check above can fail.
#[test]
fn the_schema_catches_a_wrong_input() {
    let mut frame = invoke(inputs().remove(4).1);
    frame["input"]["eventId"] = json!(7);
    assert!(!validator().is_valid(&frame));
}

/// Every property a definition has is a field of the Rust type and the other way round (all optional fields set).
#[test]
fn fields_match_the_definitions() {
    let schema = schema();
    let props = |def: &str| -> Vec<String> {
        let mut k: Vec<String> = schema["$defs"][def]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let keys = |v: Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    // An `ApiInput` carries its body in one of two forms: the fields of both make the definition's properties.
    let mut seen: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (def, input) in inputs() {
        let frame = invoke(input);
        seen.entry(def).or_default().extend(keys(frame["input"].clone()));
    }
    for (def, fields) in seen {
        assert_eq!(fields.into_iter().collect::<Vec<_>>(), props(def), "{def}");
    }
    let auth = serde_json::to_value(api_input(None)).unwrap();
    assert!(
        auth["auth"].is_null(),
        "auth is always sent, as null when there is no caller"
    );
    let output = ApiOutput {
        status: 201,
        headers: Some(BTreeMap::from([("x".into(), StringOrStrings::One("1".into()))])),
        body: json!("aGk="),
        body_encoding: Some(BodyEncoding::Base64),
    };
    let output = serde_json::to_value(output).unwrap();
    assert_eq!(keys(output.clone()), props("ApiOutput"));
    let api_output =
        jsonschema::draft202012::new(&json!({ "$ref": "#/$defs/ApiOutput", "$defs": schema["$defs"] })).unwrap();
    assert!(api_output.is_valid(&output));
    let kinds = schema["$defs"]["ApiInput"]["properties"]["auth"]["oneOf"][1]["properties"]["kind"]["enum"].clone();
    for kind in [
        CallerKind::LocalDeveloper,
        CallerKind::Admin,
        CallerKind::User,
        CallerKind::ApiKey,
        CallerKind::EndUser,
    ] {
        let k = serde_json::to_value(kind).unwrap();
        assert!(
            kinds.as_array().unwrap().contains(&k),
            "{k} is not in the schema's auth kinds"
        );
    }
    assert_eq!(kinds.as_array().unwrap().len(), 5);
}
