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
