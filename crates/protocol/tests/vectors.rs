//! Runs the shared protocol test vectors (`protocol/vectors/worker-frames.json`, also read by the
//! TypeScript worker's tests) through the Rust frame types.

use cfp_protocol::frames::parse_from_worker;
use cfp_protocol::ToWorker;
use serde_json::Value;

const VECTORS: &str = include_str!("../../../protocol/vectors/worker-frames.json");

fn parse_to_worker(frame: &Value) -> Result<ToWorker, String> {
    serde_json::from_value(frame.clone()).map_err(|e| e.to_string())
}

fn vectors(kind: &str) -> Vec<(String, String, Value)> {
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    all[kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["direction"].as_str().unwrap().to_string(),
                v["frame"].clone(),
            )
        })
        .collect()
}

#[test]
fn valid_vectors_parse() {
    let valid = vectors("valid");
    assert!(valid.len() >= 20);
    for (name, direction, frame) in valid {
        if direction != "runtime_to_worker" {
            parse_from_worker(&frame.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        if direction != "worker_to_runtime" {
            let parsed = parse_to_worker(&frame).unwrap_or_else(|e| panic!("{name}: {e}"));
            // What the runtime sends back out is the same frame (minus unknown fields).
            let again: Value = serde_json::from_str(&parsed.to_text()).unwrap();
            assert_eq!(again["type"], frame["type"], "{name}");
        }
    }
}

#[test]
fn invalid_vectors_are_refused() {
    for (name, direction, frame) in vectors("invalid") {
        let text = frame.to_string();
        if direction != "runtime_to_worker" {
            assert!(parse_from_worker(&text).is_err(), "worker frame accepted: {name}");
        }
        if direction != "worker_to_runtime" {
            assert!(parse_to_worker(&frame).is_err(), "runtime frame accepted: {name}");
        }
    }
}

/// The `apiOutputs` vectors: every output a worker sends for what a handler returned is accepted as typed; every
/// rejected output is refused with a message naming what is wrong (the header, `status`, …).
#[test]
fn api_output_vectors() {
    use cfp_protocol::ApiOutput;
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    let outputs = &all["apiOutputs"];
    let normalised = outputs["normalised"].as_array().unwrap();
    assert!(!normalised.is_empty());
    for v in normalised {
        let typed = ApiOutput::from_output(v["output"].clone()).unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
        assert_eq!(
            typed.status,
            v["output"]["status"].as_u64().unwrap() as u16,
            "{}",
            v["name"]
        );
    }
    let rejected = outputs["rejected"].as_array().unwrap();
    assert!(rejected.len() >= 5);
    for v in rejected {
        let message = ApiOutput::from_output(v["output"].clone())
            .err()
            .unwrap_or_else(|| panic!("{}: accepted", v["name"]));
        let names = v["names"].as_str().unwrap();
        assert!(
            message.contains(names),
            "{}: `{message}` does not name {names}",
            v["name"]
        );
    }
    // What a worker refuses to send is refused by the runtime too, were it sent.
    for v in outputs["refused"].as_array().unwrap() {
        let message = ApiOutput::from_output(v["returned"].clone())
            .err()
            .unwrap_or_else(|| panic!("{}: accepted", v["name"]));
        let header = v["header"].as_str().unwrap();
        assert!(message.contains(&format!("`{header}`")), "{}: {message}", v["name"]);
    }
}

/// The `apiBodies` vectors: for each content type and body, the parse a protocol 2 worker is told to do
/// (`bodyFrom`) and the body a protocol 1 worker gets; the TypeScript worker's test parses the same bytes as
/// `bodyFrom` says and must get the same body.
#[test]
fn api_body_vectors() {
    use base64::Engine as _;
    use cfp_protocol::body::{check_json, parse};
    use cfp_protocol::BodyFrom;
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    let cases = all["apiBodies"]["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(case["rawBody"].as_str().unwrap())
            .unwrap();
        let from = BodyFrom::of(case["contentType"].as_str().unwrap(), &bytes);
        assert_eq!(serde_json::to_value(from).unwrap(), case["bodyFrom"], "{name}");
        if case["invalid"] == true {
            assert!(parse(from, bytes.clone()).is_err(), "{name}");
            assert!(
                check_json(&bytes).is_err(),
                "{name}: the check refuses what the parse refuses"
            );
            continue;
        }
        assert!(from != BodyFrom::Json || check_json(&bytes).is_ok(), "{name}");
        assert_eq!(parse(from, bytes).unwrap(), case["body"], "{name}");
    }
}

/// Inputs of every form (`body` + `rawBody`; protocol 2: `bodyFrom` + `rawBody` or `rawBodyRef`) parse, and each
/// goes back out in its own form.
#[test]
fn api_inputs_of_both_forms_round_trip() {
    use cfp_protocol::{ApiBody, InvokeInput};
    for (name, _, frame) in vectors("valid") {
        if frame["type"] != "invoke" || frame["trigger"] != "api" {
            continue;
        }
        let ToWorker::Invoke(invoke) = parse_to_worker(&frame).unwrap() else {
            panic!("{name}")
        };
        let InvokeInput::Api(input) = &invoke.input else {
            panic!("{name}")
        };
        let form = match &input.body {
            ApiBody::Parsed { .. } => "body",
            ApiBody::Raw { .. } => "rawBody",
            ApiBody::Stored { .. } => "rawBodyRef",
        };
        let expected = if frame["input"].get("rawBodyRef").is_some() {
            "rawBodyRef"
        } else if frame["input"].get("bodyFrom").is_some() {
            "rawBody"
        } else {
            "body"
        };
        assert_eq!(form, expected, "{name}");
        let again: Value = serde_json::from_str(&ToWorker::Invoke(invoke.clone()).to_text()).unwrap();
        for field in ["body", "bodyFrom", "rawBody", "rawBodyRef"] {
            assert_eq!(again["input"].get(field), frame["input"].get(field), "{name}: {field}");
        }
    }
}
