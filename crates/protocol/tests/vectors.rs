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
